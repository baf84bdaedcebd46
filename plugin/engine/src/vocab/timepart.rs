//! The time-part modifiers (`minute`, `hour`, `day`, `week`, `month`,
//! `year`): a part of a timestamp, read from an RFC 3339 / ISO 8601 string
//! (`2024-08-01T12:04:24Z`, offsets honoured) or from epoch seconds, in UTC.

use crate::vocab::value::Val;

/// A part of a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// The part of the timestamp `v` holds, or `None` when it is not a timestamp.
pub(crate) fn extract(v: &Val<'_>, part: TimePart) -> Option<i64> {
    let secs = match v {
        Val::Num(n) => *n as i64,
        Val::Str(s) => parse_rfc3339(s)?,
        _ => return None,
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Some(match part {
        TimePart::Minute => rem / 60 % 60,
        TimePart::Hour => rem / 3600,
        TimePart::Day => d,
        TimePart::Month => m,
        TimePart::Year => y,
        TimePart::Week => iso_week(days, y),
    })
}

/// Seconds since the epoch of `YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|±hh:mm]`.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    parse_rfc3339_ms(s).map(|ms| ms.div_euclid(1000))
}

/// Milliseconds since the epoch of `YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|±hh:mm]`
/// (digits of the fraction past the third are ignored; no offset means UTC),
/// or `None`. Public so that hosts writing event times (OCSF's `time`) read
/// them as the correlation clock does, without a date library.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 100;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            millis += i64::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let offset = match b.get(i) {
        None | Some(b'Z' | b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6).unwrap_or(0);
            let o = oh * 3600 + om * 60;
            if sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    Some(secs * 1000 + millis)
}

/// `YYYY-MM-DDThh:mm:ss[.mmm]Z` for milliseconds since the epoch, in UTC (the
/// fraction only when not zero): how alert windows are written. The inverse
/// of the RFC 3339 reading above, so hosts need no date library.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    if millis == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
    }
}

/// One piece of a date pattern such as `yyyy-MM-dd HH:mm:ss`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DatePiece {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millis,
    Text(String),
}

/// Reads a date pattern in the notation SIEM queries use (QRadar's
/// `DATEFORMAT`, Java's `SimpleDateFormat`): `yyyy`, `MM`, `dd`, `HH`, `mm`,
/// `ss`, `SSS`; any other character is copied. Letters outside that set are
/// refused, so that a pattern never silently prints a letter it meant as a
/// field.
pub(crate) fn parse_date_pattern(p: &str) -> Result<Vec<DatePiece>, String> {
    const TOKENS: [(&str, DatePiece); 7] = [
        ("yyyy", DatePiece::Year),
        ("MM", DatePiece::Month),
        ("dd", DatePiece::Day),
        ("HH", DatePiece::Hour),
        ("mm", DatePiece::Minute),
        ("ss", DatePiece::Second),
        ("SSS", DatePiece::Millis),
    ];
    let mut out = Vec::new();
    let mut rest = p;
    'outer: while let Some(c) = rest.chars().next() {
        for (tok, piece) in &TOKENS {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push(piece.clone());
                rest = r;
                continue 'outer;
            }
        }
        if c.is_ascii_alphabetic() {
            return Err(format!(
                "date format `{p}`: `{c}` is not a field; use yyyy, MM, dd, HH, mm, ss, SSS (quote literal letters by leaving them out)"
            ));
        }
        match out.last_mut() {
            Some(DatePiece::Text(t)) => t.push(c),
            _ => out.push(DatePiece::Text(c.to_string())),
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Formats milliseconds since the epoch with a parsed pattern, in UTC.
pub(crate) fn format_date(ms: i64, pattern: &[DatePiece]) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    for piece in pattern {
        match piece {
            DatePiece::Year => out.push_str(&format!("{y:04}")),
            DatePiece::Month => out.push_str(&format!("{m:02}")),
            DatePiece::Day => out.push_str(&format!("{d:02}")),
            DatePiece::Hour => out.push_str(&format!("{:02}", rem / 3600)),
            DatePiece::Minute => out.push_str(&format!("{:02}", rem / 60 % 60)),
            DatePiece::Second => out.push_str(&format!("{:02}", rem % 60)),
            DatePiece::Millis => out.push_str(&format!("{millis:03}")),
            DatePiece::Text(t) => out.push_str(t),
        }
    }
    out
}

/// The first instant no time column may name: 10000-01-01T00:00:00Z. RFC
/// 3339 has four-digit years; a number past this (a hostile `1e300`, or
/// seconds mistaken for milliseconds a thousand times over) would move a
/// correlation watermark to the far future, making every later event late.
pub(crate) const MAX_EVENT_MS: i64 = 253_402_300_800_000;

/// An event's time in milliseconds since the epoch, from the value of a time
/// column, in every form the sources sigil recognises write it:
///
/// - a number: epoch seconds, or epoch milliseconds above 10^12 (QRadar
///   `devicetime`, Sumo `_messageTime`, LogScale `@timestamp`);
/// - a string of digits: epoch milliseconds likewise (Falcon `timestamp`);
/// - RFC 3339 / ISO 8601, with or without fraction (any number of digits,
///   as Sentinel's seven) and zone (none means UTC);
/// - the Log Analytics portal's display form, which its CSV export writes
///   under `TimeGenerated [UTC]`: `12/4/2026, 8:15:37.123 AM`, in UTC.
///
/// Anything else, and any time before year 0 or from year 10000 on, is no
/// time (`None`): an event without a time takes the stream's.
pub(crate) fn event_time_ms(v: &Val<'_>) -> Option<i64> {
    let ms = match v {
        Val::Num(n) => epoch_number_ms(*n)?,
        Val::Str(s) => {
            let t = s.trim();
            if t.is_empty() || t.len() > MAX_TIME_TEXT {
                return None;
            }
            if t.bytes().all(|b| b.is_ascii_digit()) {
                // At most 40 digits: parsed exactly enough to be refused
                // when too large.
                epoch_number_ms(t.parse::<f64>().ok()?)?
            } else if t.as_bytes().get(4) == Some(&b'-') {
                parse_rfc3339_ms(t)?
            } else {
                parse_portal_display_ms(t)?
            }
        }
        _ => return None,
    };
    (MIN_EVENT_MS..MAX_EVENT_MS).contains(&ms).then_some(ms)
}

/// 0000-01-01T00:00:00Z, the first instant RFC 3339 can write.
const MIN_EVENT_MS: i64 = -62_167_219_200_000;

/// The longest time text read: an RFC 3339 time with nanoseconds and an
/// offset is 35 bytes; longer text is not a time and is not scanned.
const MAX_TIME_TEXT: usize = 40;

/// Epoch seconds, or milliseconds above 10^12 (10^12 seconds is year 33658,
/// so the two cannot be confused for any time that passes the bounds).
fn epoch_number_ms(n: f64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 || n >= MAX_EVENT_MS as f64 {
        return None;
    }
    Some(if n > 1e12 {
        n as i64
    } else {
        (n * 1000.0) as i64
    })
}

/// Milliseconds since the epoch of `M/D/YYYY, h:mm:ss[.fff] AM|PM` in UTC:
/// how the Log Analytics (Sentinel) portal displays a `datetime` in the
/// en-US locale and writes it to a CSV export, under a header that names
/// the zone (`TimeGenerated [UTC]`). Other locales' display forms are
/// ambiguous (`4/12/2026` is April or December) and are not read.
pub(crate) fn parse_portal_display_ms(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(", ")?;
    let mut d = date.splitn(3, '/');
    let num = |t: &str, max_len: usize| -> Option<i64> {
        if t.is_empty() || t.len() > max_len || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (mo, day) = (num(d.next()?, 2)?, num(d.next()?, 2)?);
    let year = d.next()?;
    let y = if year.len() == 4 {
        num(year, 4)?
    } else {
        return None;
    };
    let (clock, half) = rest.rsplit_once(' ')?;
    let pm = match half {
        "AM" | "am" => false,
        "PM" | "pm" => true,
        _ => return None,
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let mut t = hms.splitn(3, ':');
    let (h, mi, se) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || !(1..=12).contains(&h) {
        return None;
    }
    if mi > 59 || se > 60 {
        return None;
    }
    let mut millis = 0;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut scale = 100;
        for c in f.bytes() {
            millis += i64::from(c - b'0') * scale;
            scale /= 10;
        }
    }
    // 12 AM is midnight, 12 PM noon.
    let h = h % 12 + if pm { 12 } else { 0 };
    let secs = days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + se;
    Some(secs * 1000 + millis)
}

/// A time as milliseconds since the epoch: a string of digits is epoch
/// milliseconds (QRadar `devicetime`, Falcon `timestamp`), anything else
/// RFC 3339.
pub(crate) fn epoch_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().ok()
    } else {
        parse_rfc3339_ms(t)
    }
}

// Howard Hinnant's days-from-civil algorithms (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// ISO 8601 week number (1–53) of the day `days` since the epoch in year `y`.
fn iso_week(days: i64, y: i64) -> i64 {
    let weekday = (days + 3).rem_euclid(7); // 0 = Monday
    let thursday = days - weekday + 3;
    let (ty, _, _) = civil_from_days(thursday);
    let jan1 = days_from_civil(ty, 1, 1);
    let _ = y;
    (thursday - jan1) / 7 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(s: &str, p: TimePart) -> i64 {
        extract(&Val::Str(s.into()), p).unwrap()
    }

    #[test]
    fn formatting_round_trips() {
        for t in [
            "2024-08-01T12:04:24Z",
            "1969-12-31T23:59:59.001Z",
            "2000-02-29T00:00:00Z",
        ] {
            assert_eq!(format_rfc3339_ms(parse_rfc3339_ms(t).unwrap()), t);
        }
    }

    #[test]
    fn parts_of_a_cloudtrail_time() {
        let t = "2024-08-01T12:04:24Z";
        assert_eq!(part(t, TimePart::Year), 2024);
        assert_eq!(part(t, TimePart::Month), 8);
        assert_eq!(part(t, TimePart::Day), 1);
        assert_eq!(part(t, TimePart::Hour), 12);
        assert_eq!(part(t, TimePart::Minute), 4);
        assert_eq!(part(t, TimePart::Week), 31);
        assert_eq!(part("2021-01-03T00:00:00Z", TimePart::Week), 53);
        assert_eq!(part("2024-08-01T12:04:24+02:00", TimePart::Hour), 10);
        assert_eq!(extract(&Val::Num(0.0), TimePart::Year), Some(1970));
        assert_eq!(
            extract(&Val::Str("not a time".into()), TimePart::Year),
            None
        );
    }

    fn time(s: &str) -> Option<i64> {
        event_time_ms(&Val::Str(s.into()))
    }

    #[test]
    fn event_times_in_every_form_a_source_writes() {
        let t = 1_796_372_137_123; // 2026-12-04T08:15:37.123Z
        // RFC 3339: Sentinel's seven fraction digits, CloudTrail's none,
        // offsets, no zone (UTC), a space for the `T`.
        assert_eq!(time("2026-12-04T08:15:37.1234567Z"), Some(t));
        assert_eq!(time("2026-12-04T08:15:37Z"), Some(t - 123));
        assert_eq!(time("2026-12-04T09:15:37.123+01:00"), Some(t));
        assert_eq!(time("2026-12-04 08:15:37.123"), Some(t));
        // Epoch milliseconds as a number (QRadar, Sumo, LogScale) or as
        // digits (Falcon); epoch seconds.
        assert_eq!(event_time_ms(&Val::Num(t as f64)), Some(t));
        assert_eq!(time("1796372137123"), Some(t));
        assert_eq!(event_time_ms(&Val::Num(1_796_372_137.0)), Some(t - 123));
        // The Log Analytics portal's CSV export.
        assert_eq!(time("12/4/2026, 8:15:37.123 AM"), Some(t));
        assert_eq!(
            time("12/4/2026, 8:15:37 PM"),
            Some(t - 123 + 12 * 3_600_000)
        );
        assert_eq!(time("12/4/2026, 12:00:00 AM"), Some(1_796_342_400_000));
        assert_eq!(time("12/4/2026, 12:00:00 PM"), Some(1_796_385_600_000));
    }

    #[test]
    fn hostile_times_are_no_time() {
        for s in [
            "",
            "   ",
            "99999-01-01T00:00:00Z",
            "+99999-01-01T00:00:00Z",
            "2026-13-04T08:15:37Z",
            "2026-12-04T08:15:37.12345678901234567890123456789012345Z",
            "9999999999999999999999999999999999999999",
            "99999999999999999999999999999999999999999999999",
            "12/4/99999, 8:15:37 AM",
            "13/4/2026, 8:15:37 AM",
            "12/4/2026, 0:15:37 AM",
            "12/4/2026, 8:15:37.1234567890 AM",
            "12/4/2026, 8:15:37 XM",
            "12/4/2026 8:15:37 AM",
            "1/2/3, 4:5:6 AM, 7",
            "２０２６-12-04T08:15:37Z",
        ] {
            assert_eq!(time(s), None, "{s:?}");
        }
        for n in [f64::NAN, f64::INFINITY, -1.0, 1e300, 253_402_300_800_000.0] {
            assert_eq!(event_time_ms(&Val::Num(n)), None, "{n}");
        }
        // The last millisecond of year 9999 is still a time.
        assert_eq!(time("9999-12-31T23:59:59.999Z"), Some(MAX_EVENT_MS - 1));
        assert_eq!(event_time_ms(&Val::Bool(true)), None);
    }

    #[test]
    fn milliseconds() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:00:01.123456789Z"),
            Some(1123)
        );
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:00:00.250-00:30"),
            Some(1_800_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-08-01T12:04:24Z"),
            Some(1_722_513_864_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-1));
    }
}
