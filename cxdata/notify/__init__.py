"""Notifications: scheduled digests (subscriptions) and alerts sent by e-mail or webhook.
`config` reads and checks the subscriptions file ($CX_SUBSCRIPTIONS_FILE), `schedule`
says which period a subscription or alert is due for, `ledger` records what was sent to
whom so that nothing is sent twice; `mail` and `webhook` deliver, `digest` and `alerts`
build the messages and `send` runs one round. Nothing here imports streamlit.
"""
