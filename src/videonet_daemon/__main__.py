from videonet_daemon.cli import main

main()
