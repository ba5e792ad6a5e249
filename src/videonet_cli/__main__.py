from videonet_cli.main import main

main()
