"""tierline: customer-success tier policy you can lint, test, diff and backtest.

The public API is what ``__all__`` lists; everything else is private.
"""

from tierline.errors import (
    AuthError,
    CompileError,
    DeliveryError,
    DiagnosticsError,
    DslSyntaxError,
    DslValidationError,
    EngineError,
    IngestError,
    PolicyError,
    StoreError,
    TierlineError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "CompileError",
    "DeliveryError",
    "DiagnosticsError",
    "DslSyntaxError",
    "DslValidationError",
    "EngineError",
    "IngestError",
    "PolicyError",
    "StoreError",
    "TierlineError",
    "UsageError",
    "__version__",
]
