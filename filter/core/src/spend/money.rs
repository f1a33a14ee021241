//! Money in pico-dollars (1e-12 USD): the one unit of prices, costs, spend and budgets, so
//! adding costs never rounds and every worker's sum is the same.

/// Pico-dollars in one US dollar.
pub const PICO_PER_USD: u64 = 1_000_000_000_000;

/// A dollar amount from the configuration, in pico-dollars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pico {
    /// The amount, rounded to the nearest pico-dollar when the number is finer than that.
    pub value: u64,
    /// False when the number had digits below 1e-12 USD (the caller warns: it was rounded).
    pub exact: bool,
}

/// `usd` in pico-dollars, read from the shortest decimal that denotes the double (what the
/// JSON or YAML said, e.g. `1.71875e-07` → 171,875), so no binary rounding creeps in. `None`
/// for a negative, infinite or NaN amount, or one above u64 pico-dollars (~18.4 million USD).
pub fn usd_to_pico(usd: f64) -> Option<Pico> {
    if !usd.is_finite() || usd < 0.0 {
        return None;
    }
    if usd == 0.0 {
        return Some(Pico {
            value: 0,
            exact: true,
        });
    }
    // Rust's `{:e}` prints the shortest round-trip digits: `1.71875e-7`.
    let text = format!("{usd:e}");
    let (mantissa, exp) = text.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: u128 = format!("{int}{frac}").parse().ok()?;
    // value = digits × 10^(exp − frac_len); in pico: × 10^12.
    let shift = exp - i32::try_from(frac.len()).ok()? + 12;
    let (value, exact) = if shift >= 0 {
        let scale = 10u128.checked_pow(u32::try_from(shift).ok()?)?;
        (digits.checked_mul(scale)?, true)
    } else {
        let scale = 10u128.checked_pow(u32::try_from(-shift).ok()?)?;
        let (q, r) = (digits / scale, digits % scale);
        // Half up: `r / scale >= 0.5`.
        (q + u128::from(r * 2 >= scale), r == 0)
    };
    Some(Pico {
        value: u64::try_from(value).ok()?,
        exact,
    })
}

/// `pico` pico-dollars as a double: the nearest double to the exact amount (both operands are
/// exact below 2^53 pico-dollars and IEEE division rounds correctly), the value LiteLLM shows.
pub fn pico_to_usd(pico: u64) -> f64 {
    pico as f64 / PICO_PER_USD as f64
}

/// Signed difference `a − b` in USD, for "remaining budget" values that can go negative.
pub fn pico_diff_usd(a: u64, b: u64) -> f64 {
    if a >= b {
        pico_to_usd(a - b)
    } else {
        -pico_to_usd(b - a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(v: u64) -> Option<Pico> {
        Some(Pico {
            value: v,
            exact: true,
        })
    }

    #[test]
    fn decimal_amounts_convert_exactly() {
        assert_eq!(usd_to_pico(0.0), exact(0));
        assert_eq!(usd_to_pico(1.0), exact(PICO_PER_USD));
        assert_eq!(usd_to_pico(0.0001), exact(100_000_000));
        assert_eq!(usd_to_pico(0.00005), exact(50_000_000));
        assert_eq!(usd_to_pico(2.5e-6), exact(2_500_000));
        assert_eq!(usd_to_pico(1.71875e-07), exact(171_875));
        assert_eq!(usd_to_pico(1e-12), exact(1));
        assert_eq!(usd_to_pico(123.456), exact(123_456_000_000_000));
        // 0.1 + 0.2 is not 0.3 in binary; its shortest decimal is 0.30000000000000004.
        assert_eq!(
            usd_to_pico(0.1 + 0.2),
            Some(Pico {
                value: 300_000_000_000,
                exact: false
            })
        );
    }

    #[test]
    fn finer_than_a_pico_dollar_rounds_and_says_so() {
        assert_eq!(
            usd_to_pico(1.5e-12),
            Some(Pico {
                value: 2,
                exact: false
            })
        );
        assert_eq!(
            usd_to_pico(1.234e-13),
            Some(Pico {
                value: 0,
                exact: false
            })
        );
        assert_eq!(
            usd_to_pico(1.2345678901234e-7),
            Some(Pico {
                value: 123_457,
                exact: false
            })
        );
    }

    #[test]
    fn unusable_amounts_are_refused() {
        assert_eq!(usd_to_pico(-0.01), None);
        assert_eq!(usd_to_pico(f64::NAN), None);
        assert_eq!(usd_to_pico(f64::INFINITY), None);
        assert_eq!(usd_to_pico(2e7), None, "over u64 pico-dollars");
        assert_eq!(usd_to_pico(1.8e7), exact(18_000_000 * PICO_PER_USD));
    }

    #[test]
    fn back_to_usd() {
        assert_eq!(pico_to_usd(100_000_000), 0.0001);
        assert_eq!(pico_to_usd(8_850_000), 8.85e-06);
        assert_eq!(pico_diff_usd(100_000_000, 30_000_000), 7e-05);
        assert_eq!(pico_diff_usd(30_000_000, 100_000_000), -7e-05);
    }
}
