"""The PSP boundary: a narrow typed interface (`PspClient`) and its HTTP implementation.

Nothing here imports models: a second PSP is a second implementation of `PspClient`.
"""
