"""Where HDF5 put each dataset's data, read with h5py (independently of
dmpipe): every chunk (or contiguous dataset) of at least THRESHOLD bytes must
start at a multiple of ALIGN.
usage: check_alignment.py THRESHOLD ALIGN MIN_COUNT FILE.h5...
  MIN_COUNT: at least this many such blocks must be found over all files.
  With --unaligned first: the opposite check, that at least one such block
  is NOT aligned (a file written without alignment: shows the check bites)."""
import sys

import h5py

args = sys.argv[1:]
expect_unaligned = args and args[0] == "--unaligned"
if expect_unaligned:
    args = args[1:]
threshold, align, min_count = int(args[0]), int(args[1]), int(args[2])
blocks = []  # (file, dataset, offset, size)
for path in args[3:]:
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            if obj.chunks is not None:
                for i in range(obj.id.get_num_chunks()):
                    info = obj.id.get_chunk_info(i)
                    blocks.append((path, name, info.byte_offset, info.size))
            else:
                off = obj.id.get_offset()
                if off is not None:
                    blocks.append((path, name, off, obj.id.get_storage_size()))
        f.visititems(visit)
big = [b for b in blocks if b[3] >= threshold]
bad = [b for b in big if b[2] % align]
print(f"{len(blocks)} blocks, {len(big)} of at least {threshold} bytes, "
      f"{len(big) - len(bad)} of those at multiples of {align}")
if len(big) < min_count:
    sys.exit(f"only {len(big)} blocks of at least {threshold} bytes; expected {min_count}")
if expect_unaligned:
    if not bad:
        sys.exit("every block is aligned, though the file was written without alignment")
elif bad:
    for b in bad[:10]:
        print(f"  {b[0]}:{b[1]} at {b[2]} ({b[3]} bytes) is not a multiple of {align}")
    sys.exit(f"{len(bad)} blocks not aligned")
