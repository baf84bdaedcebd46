//! Cutting an input stream into NDJSON blocks, whatever its framing.

use sigil_engine::export::{CsvRows, ExportStats, InputFormat, detect_format, export_rows};
use sigil_engine::input::{FramingError, document_events, minify_into};

/// The size of the blocks handed to one evaluation (1 MiB, cut at a
/// newline): large enough that a call's overhead (a copy into a component,
/// a crossing into WebAssembly) vanishes, small enough to keep memory flat
/// and a component's per-call deadline meaningful.
pub const BLOCK_BYTES: usize = 1 << 20;

/// A UTF-8 byte-order mark, which Windows tools write before the first event.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How far the framer has got.
#[derive(Debug)]
enum State {
    /// Still reading the first block: the framing is decided on it.
    Start,
    /// One event per line: blocks are cut as input arrives.
    Ndjson,
    /// A JSON document (array, `Records` file, pretty-printed objects, or
    /// a SIEM API's export when the format is one): held whole until
    /// [`Framer::finish`], then split and minified into NDJSON.
    Document(InputFormat),
    /// A CSV export: each row becomes an NDJSON line as it arrives;
    /// `buf` then holds those lines.
    Csv(Box<CsvRows>),
}

/// Cuts one input (a file, stdin, a dropped browser file) into blocks of
/// NDJSON for evaluation, as `sigil run` reads it.
///
/// The format is decided on the first [`BLOCK_BYTES`] bytes, after a
/// byte-order mark, by `sigil_engine::export::detect_format`, unless it is
/// given ([`Framer::with_format`], `--input-format`): NDJSON is cut into
/// blocks of about [`BLOCK_BYTES`] at newlines as it arrives; a document
/// (an array, a `Records` file, a SIEM API's export) is held until the
/// input ends, split into its events (`document_events`, `export_rows`)
/// and each event minified onto one line; a CSV export becomes one line
/// per row as it arrives (`CsvRows`). Use one framer per input: a new file
/// may have another format.
#[derive(Debug)]
pub struct Framer {
    /// Input not yet handed out; `buf[start..]` is pending.
    buf: Vec<u8>,
    start: usize,
    state: State,
    /// The format asked for; `Auto` detects it.
    format: InputFormat,
    /// Rows of an export read so far.
    stats: ExportStats,
    finished: bool,
    /// The input paused: complete lines go out without waiting for a block.
    paused: bool,
    error: Option<FramingError>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    /// A framer for a new input, its format detected.
    pub fn new() -> Framer {
        Framer::with_format(InputFormat::Auto)
    }

    /// A framer for a new input in `format` (`Auto`: detected from the
    /// first block). A format that does not fit the input is not second
    /// guessed: NDJSON given a document reports each line, an API format
    /// given something else is one [`FramingError`] at the end.
    pub fn with_format(format: InputFormat) -> Framer {
        Framer {
            buf: Vec::new(),
            start: 0,
            state: State::Start,
            format,
            stats: ExportStats::default(),
            finished: false,
            paused: false,
            error: None,
        }
    }

    /// The format read: the one given, or the one detected once decided
    /// (`Auto` until then).
    pub fn format(&self) -> InputFormat {
        self.format
    }

    /// Bytes held and not handed out yet (the framed lines, for a CSV
    /// export): a host reading into the framer ([`Framer::push_from`])
    /// sizes its reads by it, so that one read completes one block.
    pub fn pending(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// What reading an export (CSV, or a SIEM API's JSON) did so far: rows
    /// read, ragged, cut, not rows. Zero for other formats.
    pub fn export_stats(&self) -> ExportStats {
        match &self.state {
            State::Csv(rows) => rows.stats(),
            _ => self.stats,
        }
    }

    /// Adds the next bytes of the input, in pieces of any size. Blocks
    /// they complete are then returned by [`Framer::next_block`].
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if let State::Csv(rows) = &mut self.state {
            self.paused = false;
            rows.push(bytes, &mut self.buf);
            return;
        }
        self.buf.extend_from_slice(bytes);
        self.pushed();
    }

    /// After bytes were added to `buf`: the input runs again, and the
    /// framing is decided once a block is in.
    fn pushed(&mut self) {
        self.paused = false;
        if matches!(self.state, State::Start) && self.buf.len() >= BLOCK_BYTES {
            self.decide();
        }
    }

    /// Adds the next bytes of the input as `read` writes them into the
    /// framer's own buffer, sparing the copy [`Framer::push`] makes of
    /// them: `read` is given room for `room` bytes and answers how many
    /// it wrote (a `std::io::Read::read`, say). Its error is returned and
    /// nothing is added; 0 bytes add nothing (the end of the input is
    /// [`Framer::finish`]'s to say).
    ///
    /// # Errors
    ///
    /// `read`'s.
    pub fn push_from<E>(
        &mut self,
        room: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        if matches!(self.state, State::Csv(_)) {
            // Rows are rewritten as they come: no bytes stay as read.
            let mut bytes = vec![0; room];
            let n = read(&mut bytes)?.min(room);
            if n > 0 {
                self.push(bytes.get(..n).unwrap_or_default());
            }
            return Ok(n);
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + room, 0);
        let got = read(self.buf.get_mut(len..).unwrap_or_default());
        let n = got.as_ref().map_or(0, |&n| n.min(room));
        self.buf.truncate(len + n);
        if n > 0 {
            self.pushed();
        }
        got.map(|_| n)
    }

    /// The input paused (a live stream, `tail -F log | sigil run -`): the
    /// complete lines are handed out by [`Framer::next_block`] now, not
    /// once a block fills, until more input is pushed. The framing is
    /// decided as soon as the first line is complete: `detect_framing`
    /// reads nothing else, so the decision is the one a full block gives.
    /// A document still waits for the end of the input.
    pub fn pause(&mut self) {
        if matches!(self.state, State::Start) {
            let body = self.buf.strip_prefix(BOM).unwrap_or(&self.buf);
            let first_line_complete = body
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .is_some_and(|p| {
                    memchr::memchr(b'\n', body.get(p..).unwrap_or_default()).is_some()
                });
            if first_line_complete {
                self.decide();
            }
        }
        self.paused = true;
    }

    /// Ends the input: the rest is handed out by [`Framer::next_block`],
    /// a document is split into its events now.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if matches!(self.state, State::Start) {
            self.decide();
        }
        match &mut self.state {
            State::Document(format) => {
                let format = *format;
                self.split(format);
            }
            State::Csv(rows) => rows.finish(&mut self.buf),
            State::Start | State::Ndjson => {}
        }
    }

    /// The next block of NDJSON to evaluate, cut after a newline (the last
    /// block of the input may end without one), or `None` until more input
    /// is pushed or, after [`Framer::finish`], when all was handed out.
    ///
    /// # Errors
    ///
    /// After [`Framer::finish`], once: the input was a document that does
    /// not split into events (the message says where it broke). Nothing
    /// of it was handed out.
    pub fn next_block(&mut self) -> Result<Option<&[u8]>, FramingError> {
        let Some(cut) = self.cut()? else {
            return Ok(None);
        };
        let from = self.start;
        self.start += cut;
        Ok(self.buf.get(from..from + cut))
    }

    /// As [`Framer::next_block`], but the block is moved into `block`
    /// (cleared first) as bytes of its own, for a host that hands blocks to
    /// other threads; `false` when there is none yet.
    ///
    /// When the block is most of what the framer holds, as NDJSON read in
    /// pieces of about a block is, the framer's buffer itself becomes the
    /// block and `block`'s allocation the framer's, so only the few bytes
    /// after the cut are copied, not the block. Hand back the buffers of
    /// blocks done with, and the two keep trading places without
    /// allocating.
    ///
    /// # Errors
    ///
    /// As [`Framer::next_block`].
    pub fn next_block_into(&mut self, block: &mut Vec<u8>) -> Result<bool, FramingError> {
        block.clear();
        let Some(cut) = self.cut()? else {
            return Ok(false);
        };
        let (from, rest) = (self.start, self.buf.len() - self.start);
        if from == 0 && rest - cut < cut {
            std::mem::swap(&mut self.buf, block);
            self.buf
                .extend_from_slice(block.get(cut..).unwrap_or_default());
            block.truncate(cut);
        } else {
            block.extend_from_slice(self.buf.get(from..from + cut).unwrap_or_default());
            self.start += cut;
        }
        Ok(true)
    }

    /// The length of the next block from `start`, when one is ready.
    fn cut(&mut self) -> Result<Option<usize>, FramingError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !matches!(self.state, State::Ndjson | State::Csv(_)) {
            return Ok(None);
        }
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let waiting = !self.finished && !self.paused && rest.len() < BLOCK_BYTES;
        if rest.is_empty() || waiting {
            return Ok(None);
        }
        let head = rest.get(..BLOCK_BYTES).unwrap_or(rest);
        Ok(if self.finished && rest.len() <= BLOCK_BYTES {
            Some(rest.len())
        } else if let Some(p) = memchr::memrchr(b'\n', head) {
            Some(p + 1)
        } else {
            // One line longer than a block: it goes whole into one block.
            match memchr::memchr(b'\n', rest.get(BLOCK_BYTES..).unwrap_or_default()) {
                Some(p) => Some(BLOCK_BYTES + p + 1),
                None if self.finished => Some(rest.len()),
                None => None,
            }
        })
    }

    /// Skips a byte-order mark and decides the framing on the first block,
    /// the bytes `sigil run` reads before it decides.
    fn decide(&mut self) {
        let bom = if self.buf.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        self.buf.drain(..bom);
        let format = match self.format {
            InputFormat::Auto => {
                detect_format(self.buf.get(..BLOCK_BYTES - bom).unwrap_or(&self.buf))
            }
            given => given,
        };
        self.format = format;
        self.state = match format {
            InputFormat::Auto | InputFormat::Ndjson => State::Ndjson,
            InputFormat::Csv => {
                let mut rows = Box::new(CsvRows::new());
                let input = std::mem::take(&mut self.buf);
                rows.push(&input, &mut self.buf);
                State::Csv(rows)
            }
            other => State::Document(other),
        };
    }

    /// Splits the whole document into events, one minified line each.
    fn split(&mut self, format: InputFormat) {
        let mut ndjson = Vec::with_capacity(self.buf.len());
        let result = match format {
            InputFormat::QRadarAriel | InputFormat::LogAnalytics | InputFormat::SumoSearch => {
                export_rows(format, &self.buf, &mut ndjson, &mut self.stats)
            }
            _ => document_events(&self.buf).map(|events| {
                for event in events {
                    minify_into(event, &mut ndjson);
                    ndjson.push(b'\n');
                }
            }),
        };
        if let Err(e) = result {
            self.error = Some(e);
        }
        self.buf = ndjson;
        self.start = 0;
        self.state = State::Ndjson;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block of `input` pushed in pieces of `piece` bytes.
    fn blocks(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut framer = Framer::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            framer.push(chunk);
            while let Some(b) = framer.next_block().unwrap() {
                out.push(b.to_vec());
            }
        }
        framer.finish();
        while let Some(b) = framer.next_block().unwrap() {
            out.push(b.to_vec());
        }
        out
    }

    /// As `blocks`, through `next_block_into`, trading buffers back.
    fn owned_blocks(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut framer = Framer::new();
        let (mut out, mut spare) = (Vec::new(), Vec::new());
        let mut take = |framer: &mut Framer, out: &mut Vec<Vec<u8>>| {
            while framer.next_block_into(&mut spare).unwrap() {
                out.push(spare.clone());
            }
        };
        for chunk in input.chunks(piece.max(1)) {
            framer.push(chunk);
            take(&mut framer, &mut out);
        }
        framer.finish();
        take(&mut framer, &mut out);
        out
    }

    /// As `blocks`, the pieces read straight into the framer.
    fn read_blocks(input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut framer = Framer::new();
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            let n = framer
                .push_from(piece.max(1), |room: &mut [u8]| {
                    let n = room.len().min(rest.len());
                    room[..n].copy_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    Ok::<usize, ()>(n)
                })
                .unwrap();
            if n == 0 {
                framer.finish();
            }
            while let Some(b) = framer.next_block().unwrap() {
                out.push(b.to_vec());
            }
            if n == 0 {
                return out;
            }
        }
    }

    #[test]
    fn bytes_read_in_place_are_the_same_blocks() {
        let ndjson = b"{\"a\":1}\n".repeat(300_000);
        let csv = b"_messagetime,_sourcecategory\r\n1,\"a,b\"\r\n2,c\r\n".repeat(40_000);
        let document = [b"[".as_slice(), &b"{\"a\": 1},\n".repeat(200_000), b"{}]"].concat();
        for input in [&ndjson, &csv, &document] {
            for piece in [7, 4096, 1 << 20, input.len()] {
                assert_eq!(
                    read_blocks(input, piece),
                    blocks(input, piece),
                    "pieces of {piece}"
                );
            }
        }
        // A failed read adds nothing.
        let mut f = Framer::new();
        f.push(b"{}\n");
        assert_eq!(
            f.push_from(16, |_| Err::<usize, _>("broken")),
            Err("broken")
        );
        f.finish();
        assert_eq!(f.next_block().unwrap().unwrap(), b"{}\n");
    }

    #[test]
    fn owned_blocks_are_the_same_blocks() {
        let line = b"{\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n";
        let ndjson: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 50_000)
            .collect();
        // A document: held whole, then handed out a block at a time.
        let mut document = b"[".to_vec();
        for _ in 0..40_000 {
            document.extend_from_slice(b"{\"a\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},\n");
        }
        document.extend_from_slice(b"{}]");
        for input in [&ndjson, &document] {
            for piece in [7, 4096, 1 << 20, (1 << 20) + 3, input.len()] {
                assert_eq!(
                    owned_blocks(input, piece),
                    blocks(input, piece),
                    "pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn ndjson_is_cut_at_newlines_whatever_the_pieces() {
        let line = b"{\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n";
        let input: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 50_000)
            .collect();
        for piece in [7, 4096, 1 << 20, input.len()] {
            let got = blocks(&input, piece);
            assert!(
                got.iter()
                    .all(|b| b.ends_with(b"\n") && b.len() <= BLOCK_BYTES)
            );
            assert_eq!(got.concat(), input, "pieces of {piece}");
        }
    }

    /// A live stream: on a pause, the complete lines go out at once (the
    /// framing decided on the first complete line), the partial one waits;
    /// a document waits for the end.
    #[test]
    fn a_pause_hands_out_complete_lines() {
        let take = |f: &mut Framer| {
            let mut out = Vec::new();
            while let Some(b) = f.next_block().unwrap() {
                out.extend_from_slice(b);
            }
            out
        };
        let mut f = Framer::new();
        f.push(b"\xEF\xBB\xBF\n{\"a\":1}\n{\"b\":2}\n{\"c\"");
        assert_eq!(take(&mut f), b"");
        f.pause();
        assert_eq!(take(&mut f), b"\n{\"a\":1}\n{\"b\":2}\n");
        f.pause();
        assert_eq!(take(&mut f), b"");
        f.push(b":3}\n{\"d\"");
        assert_eq!(take(&mut f), b"", "no pause, no block");
        f.pause();
        assert_eq!(take(&mut f), b"{\"c\":3}\n");
        f.finish();
        assert_eq!(take(&mut f), b"{\"d\"");

        // The first line not yet complete: nothing is decided.
        let mut f = Framer::new();
        f.push(b"{\"a\":");
        f.pause();
        assert_eq!(take(&mut f), b"");
        f.push(b"1}\n");
        f.pause();
        assert_eq!(take(&mut f), b"{\"a\":1}\n");

        // A document is held whole, paused or not.
        let mut f = Framer::new();
        f.push(b"[\n{\"a\":1},\n");
        f.pause();
        assert_eq!(take(&mut f), b"");
        f.push(b"{\"b\":2}]\n");
        f.finish();
        assert_eq!(take(&mut f), b"{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn a_line_longer_than_a_block_stays_whole() {
        // (A first line longer than a block would be read as a document,
        // as `sigil run` reads it: the framing is decided on one block.)
        let mut input = b"{}\n{\"a\":\"".to_vec();
        input.extend(std::iter::repeat_n(b'x', BLOCK_BYTES * 2));
        input.extend_from_slice(b"\"}\n{}");
        let got = blocks(&input, 1000);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].len(), BLOCK_BYTES * 2 + 9);
        assert_eq!(got.concat(), input);
    }

    #[test]
    fn documents_become_minified_lines_and_the_bom_goes() {
        let got = blocks(
            b"\xEF\xBB\xBF{\"Records\": [ {\"a\": 1},\n {\"b\": [1, 2]} ]}",
            5,
        );
        assert_eq!(got.concat(), b"{\"a\":1}\n{\"b\":[1,2]}\n");
        assert_eq!(
            blocks(b"\xEF\xBB\xBF{\"a\":1}\n", 1).concat(),
            b"{\"a\":1}\n"
        );
    }

    /// Each export format, detected and given, in pieces of any size.
    #[test]
    fn exports_become_rows() {
        let ariel = b"{\"events\": [{\"devicetime\": 1}, {\"devicetime\": 2}]}";
        let csv = b"\xEF\xBB\xBF_messagetime,_sourcecategory\r\n1,\"a,b\"\r\n2,c";
        for piece in [1, 7, 1 << 20] {
            assert_eq!(
                blocks(ariel, piece).concat(),
                b"{\"devicetime\":1}\n{\"devicetime\":2}\n"
            );
            assert_eq!(
                blocks(csv, piece).concat(),
                b"{\"_messageTime\":1,\"_sourceCategory\":\"a,b\"}\n{\"_messageTime\":2,\"_sourceCategory\":\"c\"}\n"
            );
        }
        // Given, a format is not second-guessed: the same array as events,
        // and as an Ariel export that it is not.
        let mut f = Framer::with_format(InputFormat::Json);
        f.push(ariel);
        f.finish();
        assert_eq!(
            f.next_block().unwrap().unwrap(),
            &b"{\"events\":[{\"devicetime\":1},{\"devicetime\":2}]}\n"[..]
        );
        let mut f = Framer::with_format(InputFormat::QRadarAriel);
        f.push(b"[{\"a\":1}]");
        f.finish();
        assert!(f.next_block().is_err());
        let mut f = Framer::new();
        f.push(csv);
        f.finish();
        assert_eq!(f.format(), InputFormat::Csv);
        while f.next_block().unwrap().is_some() {}
        assert_eq!(f.export_stats().rows, 2);
    }

    /// A live CSV stream: rows go out on a pause, as NDJSON lines do.
    #[test]
    fn a_paused_csv_hands_out_complete_rows() {
        let mut f = Framer::new();
        f.push(b"EventName,Type\nStopInstances,AWSCloudTrail\nStart");
        f.pause();
        assert_eq!(
            f.next_block().unwrap().unwrap(),
            &b"{\"EventName\":\"StopInstances\",\"Type\":\"AWSCloudTrail\"}\n"[..]
        );
        assert!(f.next_block().unwrap().is_none());
        f.push(b"Instances,AWSCloudTrail\n");
        f.finish();
        assert_eq!(
            f.next_block().unwrap().unwrap(),
            &b"{\"EventName\":\"StartInstances\",\"Type\":\"AWSCloudTrail\"}\n"[..]
        );
    }

    #[test]
    fn a_broken_document_is_one_error_at_the_end() {
        let mut framer = Framer::new();
        framer.push(b"[{\"a\":1},");
        assert!(framer.next_block().unwrap().is_none());
        framer.finish();
        assert!(framer.next_block().is_err());
        assert!(framer.next_block().unwrap().is_none());
    }
}
