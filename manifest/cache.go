package manifest

// Stamp is the stat data that stands for one version of a file's content, as git's
// index keeps it: a file rewritten, replaced, touched, renamed over or re-permitted
// gets a new one (its ctime at least moves, and user space cannot set ctime).
type Stamp struct {
	Size, MtimeNs, CtimeNs int64
	Ino, Dev               uint64
}

// Head is what Load learns from the start of a file.
type Head struct {
	// SavedPlan reports whether the file is a saved desksync plan (docs/manifest.md).
	SavedPlan bool
	// Sniffed is the media type guessed from the content; "" when Load did not need
	// to sniff (a layer or the extension gave the type).
	Sniffed string
	// Whole says Digest is the BLAKE3 of the whole file (Stamp.Size bytes): the read
	// that took the head held all of it, or the cache knew it for the stamp. Load
	// hands it to the hash pass with the entry (Entry.Content), so that a small file
	// is opened once and an unchanged one not at all.
	Whole  bool
	Digest [32]byte
}

// HeadCache remembers a file's Head under its Stamp, so that loading an unchanged tree
// costs one stat per file instead of an open and a read. It is only a shortcut: Load
// still walks the globs, checks every path for symlinks and containment, refuses
// .git/ and .desksync/, and reads any file whose stamp the cache does not match. Its
// methods must be safe for concurrent use. The rules are in docs/manifest.md.
type HeadCache interface {
	// Head returns the facts recorded for addr when s matches the recorded stamp and
	// the file is not racily clean.
	Head(addr string, s Stamp) (Head, bool)
	// PutHead records what the head of addr said, read after its stamp s was taken.
	PutHead(addr string, s Stamp, h Head)
	// Empty reports that the cache holds no record at all (a first run, or one that
	// must read every file), so that Load does not stat files only to miss.
	Empty() bool
}
