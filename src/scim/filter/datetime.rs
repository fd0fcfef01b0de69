//! RFC 3339 date-times as comparable instants (RFC 7643 §2.3.5 makes SCIM dateTime an
//! `xsd:dateTime` with a time zone, which in practice means RFC 3339).
//!
//! Only what filtering needs: parse, then order. Without chrono, because the filter core stays
//! dependency-light and the format is small.

/// An instant: seconds since the Unix epoch plus nanoseconds. Ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    secs: i64,
    nanos: u32,
}

impl DateTime {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. `T` and `Z` may be lower-case
    /// (RFC 3339 §5.6). A leap second (`:60`) is accepted and equals the next minute's `:00`.
    /// Fraction digits past nanoseconds are ignored.
    pub fn parse(s: &str) -> Option<DateTime> {
        let b = s.as_bytes();
        let year = digits(b, 0, 4)?;
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(i, c)| b.get(i) != Some(&c))
            || !matches!(b.get(10), Some(b'T' | b't'))
        {
            return None;
        }
        if !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }

        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(d - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            let missing_digits = 9usize.saturating_sub(i - start);
            nanos *= (0..missing_digits).fold(1, |scale, _| scale * 10);
        }

        let offset_secs = match b.get(i) {
            Some(b'Z' | b'z') => {
                i += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, i + 1, 2)?;
                let om = digits(b, i + 4, 2)?;
                if b.get(i + 3) != Some(&b':') || oh > 23 || om > 59 {
                    return None;
                }
                i += 6;
                let secs = oh * 3600 + om * 60;
                if sign == b'-' { -secs } else { secs }
            }
            _ => return None,
        };
        if i != b.len() {
            return None;
        }

        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
        Some(DateTime { secs, nanos })
    }

    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// The nanoseconds past [`DateTime::unix_seconds`].
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }
}

/// `n` ASCII digits at `at`, as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let field = b.get(at..at.checked_add(n)?)?;
    field.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::DateTime;

    fn secs(s: &str) -> Option<(i64, u32)> {
        DateTime::parse(s).map(|d| (d.unix_seconds(), d.subsec_nanos()))
    }

    #[test]
    fn parses_rfc3339() {
        let rows: &[(&str, Option<(i64, u32)>)] = &[
            ("1970-01-01T00:00:00Z", Some((0, 0))),
            // RFC 7644 §3.4.2.2 example literal.
            ("2011-05-13T04:42:34Z", Some((1_305_261_754, 0))),
            ("2011-05-13t04:42:34z", Some((1_305_261_754, 0))),
            ("2011-05-13T06:42:34+02:00", Some((1_305_261_754, 0))),
            ("2011-05-12T23:42:34-05:00", Some((1_305_261_754, 0))),
            ("2011-05-13T04:42:34.5Z", Some((1_305_261_754, 500_000_000))),
            (
                "2011-05-13T04:42:34.1234567891Z",
                Some((1_305_261_754, 123_456_789)),
            ),
            ("1969-12-31T23:59:59Z", Some((-1, 0))),
            ("2000-02-29T00:00:00Z", Some((951_782_400, 0))),
            ("2016-12-31T23:59:60Z", Some((1_483_228_800, 0))),
            ("1900-02-29T00:00:00Z", None),
            ("2011-13-13T04:42:34Z", None),
            ("2011-05-13T24:00:00Z", None),
            ("2011-05-13T04:42:34", None),
            ("2011-05-13 04:42:34Z", None),
            ("2011-05-13T04:42:34.Z", None),
            ("2011-05-13T04:42:34+0200", None),
            ("2011-05-13T04:42:34Zjunk", None),
            ("2011-05-13", None),
            ("", None),
            ("２011-05-13T04:42:34Z", None),
        ];
        for (input, want) in rows {
            assert_eq!(secs(input), *want, "{input}");
        }
    }

    #[test]
    fn orders_by_instant_not_text() {
        let a = DateTime::parse("2011-05-13T06:00:00+02:00");
        let b = DateTime::parse("2011-05-13T05:00:00Z");
        assert!(a < b);
    }
}
