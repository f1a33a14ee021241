//! stub
use super::ProviderError;
/// stub
pub fn exception_class(status: u16, _error: Option<&ProviderError>) -> Option<&'static str> {
    super::class_by_status(status)
}
