// The patch set: what a node's image differs from its base by. Flat, sorted, non-overlapping
// byte overlays plus an appended tail: bytes in [baseSize, size) not covered by an overlay are
// zero. Built by src/remaster, served by src/overlay/virtual-image.

export interface Overlay {
  /** Absolute byte offset in the virtual image. */
  readonly offset: number;
  readonly data: Uint8Array;
}

export interface PatchSet {
  /** Size of the base image the overlays apply to. */
  readonly baseSize: number;
  /** Size of the virtual image (baseSize, or more when a tail is appended). */
  readonly size: number;
  /** Sorted by offset, non-overlapping, non-empty, inside [0, size). */
  readonly overlays: readonly Overlay[];
  /** sha256 (hex) over baseSize, size and every overlay: same patch set, same digest. */
  readonly digest: string;
}
