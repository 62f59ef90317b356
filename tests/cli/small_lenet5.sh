# Sourced by the CLI tests: small_fmnist DIR TRAIN TEST writes the first TRAIN training and TEST
# test images of Fashion-MNIST (Debian's dataset-fashion-mnist) into DIR as raw IDX files, for
# `--data mnist:DIR`; small_lenet5 AXNN DIR trains LeNet-5 for one epoch on 6000 of them (1000
# test images) and calibrates it for exact8s: DIR/lenet5.pt, DIR/cal.pt.

# A 32-bit big-endian number as raw bytes.
be32() {
  printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
    $(($1 >> 8 & 255)) $(($1 & 255)))"
}
# The first COUNT items of a gzip IDX file (HEADER bytes, ITEM bytes each) as a raw IDX file.
idx_subset() {
  local src=$1 dst=$2 count=$3 header=$4 item=$5
  zcat "$src" > "$dst.full"
  { head -c 4 "$dst.full"; be32 "$count"
    dd if="$dst.full" bs=1M iflag=skip_bytes,count_bytes skip=8 \
       count=$((header - 8 + count * item)) status=none; } > "$dst"
  rm "$dst.full"
}
small_fmnist() {
  local dir=$1 train=$2 test=$3 fm=/usr/share/datasets/fashion-mnist
  mkdir -p "$dir"
  idx_subset $fm/train-images-idx3-ubyte.gz "$dir/train-images-idx3-ubyte" "$train" 16 784
  idx_subset $fm/train-labels-idx1-ubyte.gz "$dir/train-labels-idx1-ubyte" "$train" 8 1
  idx_subset $fm/t10k-images-idx3-ubyte.gz "$dir/t10k-images-idx3-ubyte" "$test" 16 784
  idx_subset $fm/t10k-labels-idx1-ubyte.gz "$dir/t10k-labels-idx1-ubyte" "$test" 8 1
}
small_lenet5() {
  local axnn=$1 dir=$2
  small_fmnist "$dir/data" 6000 1000
  # One thread: ctest may run other tests beside this one.
  "$axnn" train --model lenet5 --epochs 1 --data "mnist:$dir/data" --threads 1 -o "$dir/lenet5.pt"
  "$axnn" calibrate "$dir/lenet5.pt" --mult exact8s --batches 4 --threads 1 -o "$dir/cal.pt"
}
