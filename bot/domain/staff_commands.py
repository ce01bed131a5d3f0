"""The staff's commands in the bot: what the conversation acts on (bot/conversation/flows/village_head.py)
and what a platform's command menu lists in a staff member's chat, kept here so that a channel
can build that menu without knowing the flow."""

from __future__ import annotations

# The command as typed → what it does. Invisible to residents: they get the answer to an unknown command.
COMMANDS = {"thongbao": "village_notice", "nhapphieu": "paper_form", "thon": "village_figures", "bangiao": "handover"}
# The roles (bot/services/staff.py) that use them: a village head for their own villages, the
# secretariat and an admin for any.
ROLES = ("village_head", "secretariat", "admin")
