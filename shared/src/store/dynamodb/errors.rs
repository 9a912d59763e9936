//! What DynamoDB refused, classified: a condition that did not hold (the caller's answer, e.g.
//! a conflict) or anything else (the store is unavailable).

use crate::Error;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

pub(crate) fn unavailable<E>(operation: &str, table: &str, err: SdkError<E>) -> Error
where
    E: std::error::Error + 'static,
{
    Error::StoreUnavailable(format!(
        "DynamoDB {operation} on table {table}: {}",
        DisplayErrorContext(&err)
    ))
}

pub(crate) fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, Error> {
    result.map_err(|err| Error::Config(err.to_string()))
}

/// Why a cancelled transaction's items failed, item by item (`"None"` for items that did not).
pub(crate) fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code().unwrap_or("None").to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a single-item write was refused by its condition expression.
pub(crate) fn condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// Whether a cancelled transaction lost a race with another one on the same item.
pub(crate) fn conflicted(codes: &[String]) -> bool {
    codes.iter().any(|code| code == "TransactionConflict")
}

pub(crate) fn condition_failed_at(codes: &[String], index: usize) -> bool {
    codes
        .get(index)
        .is_some_and(|code| code == "ConditionalCheckFailed")
}

/// Whether a transaction was cancelled because its first item's condition failed (the
/// connection item, by our convention) rather than for any other reason.
pub(crate) fn first_condition_failed(err: &SdkError<TransactWriteItemsError>) -> bool {
    condition_failed_at(&cancellation_codes(err), 0)
}
