"""`hub config check` for messages: every template a branch would use renders with sample values.

An override with a variable that does not exist, a syntax error or no `Objet :` line is an error naming the
file, never a blank in a mail sent months later. The SMS templates (`<purpose>.sms.j2`) of the purposes
`[messages] sms` lists are checked the same way (no subject line there), and a purpose listed that is not a
message to the candidate is an error.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hub.config import HubConfig
from hub.errors import ConfigProblem
from hub.messages.purposes import BY_KEY, PURPOSES
from hub.messages.render import Renderer, TemplateProblem, sample_facts

__all__ = ["template_problems"]


def template_problems(config: HubConfig, now: datetime | None = None) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    when = now or datetime.now(UTC)
    for branch_id, branch in sorted(config.branches.items()):
        renderer = Renderer(config.root, branch_id)
        known = {p.key for p in PURPOSES}
        for path in renderer.overrides():
            name = path.name.removesuffix(".txt.j2").removesuffix(".sms.j2")
            if name not in known and not name.startswith("_"):
                problems.append(ConfigProblem(str(path), "", f"no message purpose {name!r}",
                                              "name the file after a purpose listed by: hub messages list"))
        for purpose in PURPOSES:
            if purpose.key in branch.messages.off:
                continue
            try:
                renderer.render(purpose.key, sample_facts(branch, config.zone(branch_id), when, purpose.key))
            except TemplateProblem as exc:
                problems.append(ConfigProblem(exc.template, "", exc.message,
                                              "fix the template, then run: hub config check"))
        for index, name in enumerate(branch.messages.sms):
            if name not in known or BY_KEY[name].recipient != "candidate":
                problems.append(ConfigProblem(branch.file, f"messages.sms[{index}]",
                                              f"no message to the candidate named {name!r}",
                                              "use a candidate's purpose listed by: hub messages list"))
            elif name not in branch.messages.off:
                try:
                    renderer.render(name, sample_facts(branch, config.zone(branch_id), when, name), "sms")
                except TemplateProblem as exc:
                    problems.append(ConfigProblem(exc.template, "", exc.message,
                                                  "fix the template, then run: hub config check"))
        for index, name in enumerate(branch.messages.off):
            if name not in known:
                problems.append(ConfigProblem(branch.file, f"messages.off[{index}]", f"no message purpose {name!r}",
                                              "use a purpose listed by: hub messages list"))
    return problems
