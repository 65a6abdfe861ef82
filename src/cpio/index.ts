// Public API of src/cpio: deterministic newc archives, and the archive of a node's files.

export { NEWC_HEADER_BYTES, NEWC_MAGIC, NEWC_TRAILER, S_IFDIR, S_IFMT, S_IFREG, newcSize, writeNewc, type NewcEntry } from './newc.js';
export { DIRECTORY_MODE, archiveEntries, filesArchive, type ArchiveFile } from './files-archive.js';
