"""MCOF assistant: cited answers, alignment and drafting over the Migration Crisis Operational Framework.

Importing this package is cheap: torch, chromadb and gradio load only when used.
"""

__version__ = "0.1.0"
