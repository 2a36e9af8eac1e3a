"""Staff side of nora-chat: authentication, the agent console and supervisor dashboard pages, the
case register and its statistics.

Error tree: handlers raise ``core.http.HTTPError`` with an error code of docs/protocol.md §1.10; nothing else
leaves a handler.
"""
