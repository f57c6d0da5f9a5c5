"""Access: logins and tokens, roles and reach, the audit trail, reporters' personal data.

Nothing here imports FastAPI: the web layer (``api.auth``) and the CLI
(``geogrid.commands.access``) call these modules.
"""
