"""Evidence and assessment for people who answer for an agent: ``tether assess`` (does
a process need an agent, how risky is each tool, a starter policy) and ``tether
report`` (the obligations a deployment meets, with the evidence for each)."""

from tether.compliance._assess import Assessment, assess, assess_config, assess_process
from tether.compliance._process import ProcessSpec, StepSpec, is_process_file, load_process
from tether.compliance._risk import ToolRisk, classify_step, classify_tool

__all__ = [
    "Assessment",
    "ProcessSpec",
    "StepSpec",
    "ToolRisk",
    "assess",
    "assess_config",
    "assess_process",
    "classify_step",
    "classify_tool",
    "is_process_file",
    "load_process",
]
