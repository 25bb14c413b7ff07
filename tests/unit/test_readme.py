"""The README's code names only things that exist."""

import importlib
import re
from pathlib import Path

import relaybox

README = (Path(__file__).parents[2] / "README.md").read_text()
CODE = "\n".join(re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL))


def test_every_import_in_the_readme_resolves() -> None:
    imports = re.findall(r"^from (relaybox[\w.]*) import (.+)$", CODE, flags=re.MULTILINE)
    assert imports
    for module_name, names in imports:
        module = importlib.import_module(module_name)
        for name in (n.strip() for n in names.split(",")):
            assert hasattr(module, name), f"{module_name}.{name} is in the README but not in code"


def test_every_relaybox_attribute_in_the_readme_exists() -> None:
    attributes = set(re.findall(r"\brelaybox\.(\w+)\(", CODE))
    assert attributes
    missing = sorted(a for a in attributes if not hasattr(relaybox, a))
    assert missing == []


def test_the_readme_gives_the_two_set_up_commands_that_ci_runs() -> None:
    assert "./scripts/demo" in README
    assert "./scripts/test" in README
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == "./scripts/test"
