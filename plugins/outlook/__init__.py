"""The Outlook connector (Microsoft 365): mail through an Exchange mailbox, sessions in Outlook calendars."""
