from videonet_cli.launch import main

main()
