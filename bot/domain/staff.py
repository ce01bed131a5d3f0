"""Who works the meeting and what each role may do there, and the staff's commands in the bot.

The commands are kept here, beside the roles that use them, so that a channel can build a staff
member's command menu without knowing the flow that acts on them (bot/conversation/flows/village_head.py).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything, staff accounts included
    SECRETARIAT = "secretariat"  # Văn phòng, MTTQ: collects, classifies, assigns, answers, publishes, reports
    VILLAGE_HEAD = "village_head"  # trưởng thôn: notices and paper forms for their own villages
    DEPARTMENT = "department"  # phòng chuyên môn: answers what is assigned to it


ROLES: tuple[Role, ...] = tuple(Role)

# The command as typed → what it does. Invisible to residents: they get the answer to an unknown command.
COMMANDS = {"thongbao": "village_notice", "nhapphieu": "paper_form", "thon": "village_figures", "bangiao": "handover"}
# Who uses them: a village head for their own villages, the secretariat and an admin for any.
COMMAND_ROLES = (Role.VILLAGE_HEAD, Role.SECRETARIAT, Role.ADMIN)
