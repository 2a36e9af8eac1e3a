"""Transports of nora-chat: websockets, the conversation lifecycle, message delivery, the broker.

``chat`` asks ``routing`` for decisions and never makes one itself. It knows staff only through
``chat.staff.StaffDirectory``, which ``admin`` implements, so nothing here imports ``admin``.

Error tree::

    ChatError
     └── FrameError (code, message, ref, fields): a typed error frame; the socket stays open
          └── FatalFrameError: the socket is closed with ``close_code``
"""
