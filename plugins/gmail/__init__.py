"""hub_gmail: the Gmail channel (sends the hub's e-mails through a branch's mailbox, reads its bounces)."""
