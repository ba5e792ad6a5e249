"""The render layer: everything the CLI shows, one module per command family.

    console        the Rich consoles, JSON output, tables, the one red error line
    transfer_view  send/receive/verify: progress bars or JSON lines, the per-file results
    call_view      call: a live table of peers, or plain or JSON lines
    chat_view      chat: messages, presence and notices as text or JSON lines
    analysis_view  analyze/ask: progress, the frames table, streamed answers, the chat prompt

Each view is the `videonet_cli.reporting.Reporter` its core is given; cores never print.
"""
