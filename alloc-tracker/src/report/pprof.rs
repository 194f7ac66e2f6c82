//! [`Snapshot::write_pprof`]: the snapshot as a gzipped `profile.proto`, pprof's own format, as
//! Go's heap profiles write it: four sample types (`alloc_objects/count`, `alloc_space/bytes`,
//! `inuse_objects/count`, `inuse_space/bytes`, the default), one sample per callsite.
//!
//! Locations carry their frames' function names and `file:line` (inlined calls as several lines
//! of one location, innermost first), so `go tool pprof` needs no binary; mappings carry each
//! loaded object's GNU build ID, so a tool that wants the binary can still find it. The messages
//! below mirror the published `profile.proto` (github.com/google/pprof, `proto/profile.proto`)
//! field by field, with prost's derive: no `protoc`, no build script.

use std::collections::HashMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

use super::symbolize::{self, Frame};
use crate::guard::with_guard;
use crate::snapshot::Snapshot;

// The messages of `profile.proto` (package `perftools.profiles`), fields not written left out.

#[derive(Clone, PartialEq, Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    time_nanos: i64,
    /// Sampled profiles: what one sample period measures (`space/bytes`) and its mean.
    #[prost(message, optional, tag = "11")]
    period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    period: i64,
    #[prost(int64, repeated, tag = "13")]
    comment: Vec<i64>,
    #[prost(int64, tag = "14")]
    default_sample_type: i64,
}

#[derive(Clone, PartialEq, Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    /// Innermost first.
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    /// One per sample type, in their order.
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Mapping {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    memory_start: u64,
    #[prost(uint64, tag = "3")]
    memory_limit: u64,
    #[prost(uint64, tag = "4")]
    file_offset: u64,
    #[prost(int64, tag = "5")]
    filename: i64,
    #[prost(int64, tag = "6")]
    build_id: i64,
    #[prost(bool, tag = "7")]
    has_functions: bool,
    #[prost(bool, tag = "8")]
    has_filenames: bool,
    #[prost(bool, tag = "9")]
    has_line_numbers: bool,
    #[prost(bool, tag = "10")]
    has_inline_frames: bool,
}

#[derive(Clone, PartialEq, Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    mapping_id: u64,
    #[prost(uint64, tag = "3")]
    address: u64,
    /// Innermost inlined call first, the function it was inlined into last.
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
}

#[derive(Clone, PartialEq, Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
    #[prost(int64, tag = "2")]
    line: i64,
    #[prost(int64, tag = "3")]
    column: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    /// Shown name: without generic arguments.
    #[prost(int64, tag = "2")]
    name: i64,
    /// The full demangled name.
    #[prost(int64, tag = "3")]
    system_name: i64,
    #[prost(int64, tag = "4")]
    filename: i64,
}

/// The profile under construction: the string table and the interned functions and locations.
#[derive(Default)]
struct Builder {
    profile: Profile,
    strings: HashMap<String, i64>,
    /// `(full name, file)` -> function id.
    functions: HashMap<(String, Option<String>), u64>,
    /// `(address, the frames kept there)` -> location id (trimming may keep a part of one
    /// address's inlined frames, so one address can give two locations).
    locations: HashMap<(usize, Vec<Frame>), u64>,
}

impl Builder {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_owned());
        self.strings.insert(s.to_owned(), i);
        i
    }

    fn value_type(&mut self, kind: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(kind),
            unit: self.string(unit),
        }
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let key = (frame.function.clone(), frame.file.clone());
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        let function = Function {
            id,
            name: self.string(&frame.name_without_generics()),
            system_name: self.string(&frame.function),
            filename: frame.file.as_deref().map_or(0, |f| self.string(f)),
        };
        self.profile.function.push(function);
        self.functions.insert(key, id);
        id
    }

    /// The location of `frames` (innermost first) at return address `ip` (0: a placeholder).
    fn location(&mut self, ip: usize, frames: &[Frame]) -> u64 {
        let key = (ip, frames.to_vec());
        if let Some(&id) = self.locations.get(&key) {
            return id;
        }
        let line = frames
            .iter()
            .map(|f| Line {
                function_id: self.function(f),
                line: f.line.map_or(0, i64::from),
                column: f.column.map_or(0, i64::from),
            })
            .collect();
        let id = self.profile.location.len() as u64 + 1;
        let mapping_id = self
            .profile
            .mapping
            .iter()
            .find(|m| (m.memory_start..m.memory_limit).contains(&(ip as u64)))
            .map_or(0, |m| m.id);
        self.profile.location.push(Location {
            id,
            mapping_id,
            address: ip as u64,
            line,
        });
        self.locations.insert(key, id);
        id
    }

    /// A location for a callsite with no frame to show, named `what`.
    fn placeholder(&mut self, what: &str) -> u64 {
        let frame = Frame {
            function: what.to_owned(),
            file: None,
            line: None,
            column: None,
        };
        self.location(0, &[frame])
    }
}

impl Snapshot {
    /// Writes the snapshot as a gzipped pprof profile (`profile.proto`), as Go's heap profiles:
    /// sample types `alloc_objects/count`, `alloc_space/bytes` (blocks and bytes ever allocated),
    /// `inuse_objects/count`, `inuse_space/bytes` (live when the snapshot was taken; the default),
    /// one sample per callsite that allocated anything. In sampled mode the figures are the
    /// callsites' estimates and the profile carries `period_type` `space/bytes` and `period` the
    /// sampling rate, as Go's sampled heap profiles.
    ///
    /// Each sample's stack is the callsite's trimmed stack (its first frame outside the
    /// allocation machinery, then its callers, as the text report shows it), with function names
    /// and `file:line`: `go tool pprof -top heap.pb.gz` reads it without the binary. Mappings
    /// carry each loaded object's GNU build ID. Symbolizes what is not cached yet (see
    /// [`Snapshot::resolve`]); what this allocates is the caller's, not the snapshot's figures.
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    ///     alloc_tracker::Tracked::new(std::alloc::System);
    ///
    /// let kept = std::hint::black_box(vec![0u8; 4096]);
    /// let mut file = Vec::new();
    /// alloc_tracker::snapshot().write_pprof(&mut file).unwrap();
    /// assert_eq!(&file[..2], &[0x1f, 0x8b]); // gzip
    /// // std::fs::write("heap.pb.gz", &file), then: go tool pprof -top heap.pb.gz
    /// # drop(kept);
    /// ```
    pub fn write_pprof(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut b = Builder::default();
        b.string("");
        let types = [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ];
        b.profile.sample_type = types.iter().map(|(t, u)| b.value_type(t, u)).collect();
        b.profile.default_sample_type = b.string("inuse_space");
        let comment = b.string("alloc-tracker heap profile");
        b.profile.comment.push(comment);
        if let Some(rate) = self.sample_rate() {
            // As Go's sampled heap profiles: the values are already scaled up (sums of each
            // sampled block's weight), the period says how they were sampled.
            b.profile.period_type = Some(b.value_type("space", "bytes"));
            b.profile.period = rate as i64;
            let note = format!("sampled every ~{} bytes: figures are estimates", rate);
            let note = b.string(&note);
            b.profile.comment.push(note);
        }
        b.profile.time_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        for object in loaded_objects() {
            let filename = b.string(&object.path);
            let build_id = b.string(&object.build_id);
            for seg in &object.segments {
                let id = b.profile.mapping.len() as u64 + 1;
                b.profile.mapping.push(Mapping {
                    id,
                    memory_start: seg.start,
                    memory_limit: seg.limit,
                    file_offset: seg.offset,
                    filename,
                    build_id,
                    has_functions: true,
                    has_filenames: true,
                    has_line_numbers: true,
                    has_inline_frames: true,
                });
            }
        }
        for cs in self.callsites() {
            let value = [
                cs.total_blocks,
                cs.total_bytes,
                cs.live_blocks,
                cs.live_bytes,
            ];
            if value == [0; 4] {
                continue;
            }
            let mut location_id = Vec::new();
            if cs.stack().is_empty() {
                location_id.push(b.placeholder("(no stack recorded)"));
            } else {
                with_guard(|_| symbolize::fill(cs.stack()));
                symbolize::for_each_trimmed_address(cs.stack(), |ip, frames| {
                    location_id.push(b.location(ip, frames));
                });
                if location_id.is_empty() {
                    location_id.push(b.placeholder("(no frame outside the allocation machinery)"));
                }
            }
            b.profile.sample.push(Sample {
                location_id,
                value: value.iter().map(|&v| v as i64).collect(),
            });
        }
        let mut gz = GzEncoder::new(w, Compression::default());
        gz.write_all(&b.profile.encode_to_vec())?;
        gz.finish()?;
        Ok(())
    }
}

/// One loaded ELF object (the executable, a shared library, the vDSO).
struct Object {
    path: String,
    /// The GNU build ID in lowercase hex, or empty.
    build_id: String,
    segments: Vec<Segment>,
}

/// One executable `PT_LOAD` segment, at its run-time addresses.
struct Segment {
    start: u64,
    limit: u64,
    offset: u64,
}

/// Every loaded object with its executable segments, from `dl_iterate_phdr`.
fn loaded_objects() -> Vec<Object> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `&mut Vec<Object>` passed below, alive for the whole iteration,
        // and `info` is the loader's description of one object, valid during this call.
        let (objects, info) = unsafe { (&mut *data.cast::<Vec<Object>>(), &*info) };
        // SAFETY: `info` describes a loaded object (see above).
        objects.push(unsafe { object(info) });
        0
    }
    let mut objects: Vec<Object> = Vec::new();
    // SAFETY: `each` only reads the loader's structures during the call and writes to `objects`,
    // which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut objects).cast()) };
    objects.retain(|o| !o.segments.is_empty());
    objects
}

/// Reads one object's name, build ID and executable segments.
///
/// # Safety
/// `info` must be a `dl_phdr_info` the loader handed to a `dl_iterate_phdr` callback that is
/// still running: its program headers and the segments they describe are mapped.
unsafe fn object(info: &libc::dl_phdr_info) -> Object {
    let path = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string owned by the loader.
        unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    // The executable's own entry has an empty name.
    let path = if path.is_empty() {
        std::env::current_exe().map_or(path, |p| p.display().to_string())
    } else {
        path
    };
    let headers: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: the loader gives `dlpi_phnum` program headers at `dlpi_phdr`.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let base = info.dlpi_addr;
    let mut build_id = String::new();
    let mut segments = Vec::new();
    for h in headers {
        match h.p_type {
            libc::PT_LOAD if h.p_flags & libc::PF_X != 0 => segments.push(Segment {
                start: base + h.p_vaddr,
                limit: base + h.p_vaddr + h.p_memsz,
                offset: h.p_offset,
            }),
            libc::PT_NOTE if build_id.is_empty() => {
                // SAFETY: a `PT_NOTE` segment lies inside a loaded segment, mapped readable for
                // `p_memsz` bytes at `base + p_vaddr` while the object is loaded.
                let notes = unsafe {
                    std::slice::from_raw_parts((base + h.p_vaddr) as *const u8, h.p_memsz as usize)
                };
                build_id = gnu_build_id(notes).unwrap_or_default();
            }
            _ => {}
        }
    }
    Object {
        path,
        build_id,
        segments,
    }
}

/// The `NT_GNU_BUILD_ID` note's descriptor in `notes` (a note segment), in lowercase hex.
fn gnu_build_id(mut notes: &[u8]) -> Option<String> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let align4 = |n: usize| n.div_ceil(4) * 4;
    while notes.len() >= 12 {
        let (namesz, descsz, kind) = (
            word(notes, 0)? as usize,
            word(notes, 4)? as usize,
            word(notes, 8)?,
        );
        let name = notes.get(12..12 + namesz)?;
        let desc_at = 12 + align4(namesz);
        let desc = notes.get(desc_at..desc_at + descsz)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        notes = notes.get(desc_at + align4(descsz)..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_note_is_found_after_another_note() {
        let mut notes = Vec::new();
        // An ABI tag note first (name "GNU", type 1, 16-byte descriptor).
        notes.extend_from_slice(&4u32.to_ne_bytes());
        notes.extend_from_slice(&16u32.to_ne_bytes());
        notes.extend_from_slice(&1u32.to_ne_bytes());
        notes.extend_from_slice(b"GNU\0");
        notes.extend_from_slice(&[0; 16]);
        notes.extend_from_slice(&4u32.to_ne_bytes());
        notes.extend_from_slice(&3u32.to_ne_bytes());
        notes.extend_from_slice(&3u32.to_ne_bytes()); // NT_GNU_BUILD_ID
        notes.extend_from_slice(b"GNU\0");
        notes.extend_from_slice(&[0xab, 0x01, 0xff, 0]);
        assert_eq!(gnu_build_id(&notes).as_deref(), Some("ab01ff"));
        assert_eq!(gnu_build_id(&notes[..20]), None);
    }

    #[test]
    fn this_executable_has_a_build_id_and_an_executable_mapping() {
        let objects = loaded_objects();
        let exe = std::env::current_exe().unwrap().display().to_string();
        let me = objects
            .iter()
            .find(|o| o.path == exe)
            .expect("the executable");
        assert!(!me.build_id.is_empty(), "rustc links with --build-id");
        let here = this_executable_has_a_build_id_and_an_executable_mapping as *const () as u64;
        assert!(
            me.segments
                .iter()
                .any(|s| (s.start..s.limit).contains(&here))
        );
    }
}
