"""The messages the branch sends: which ones an event implies, their words, and when they may go out.

Policy lives here, the same for a Google branch and a Microsoft branch; a channel plugin only delivers
(`message_due`). See docs/architecture.md, "Messages".
"""
