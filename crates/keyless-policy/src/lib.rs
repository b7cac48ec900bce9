//! AWS IAM policy engine: strict parser, validator, evaluator and explain traces. No I/O.
