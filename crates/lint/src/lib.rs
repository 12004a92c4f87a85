//! Migration linter (placeholder; being written).
