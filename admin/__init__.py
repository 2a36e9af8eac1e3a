"""Staff side of nora-chat: authentication, the agent console and supervisor dashboard pages, the
case register and its statistics.

Error tree: handlers raise ``core.http.HTTPError`` with a PROTOCOL.md error code; nothing else
leaves a handler.
"""
