#include "data/datasets.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstring>
#include <vector>

#include "core/error.h"

namespace axnn::data {
namespace {

// The whole content of a file, gunzipped when it is gzip (zlib reads plain files as they are).
std::vector<uint8_t> read_all(const std::filesystem::path& path) {
  AXNN_CHECK(std::filesystem::is_regular_file(path), "dataset file {}: not found", path.string());
  gzFile file = gzopen(path.c_str(), "rb");
  AXNN_CHECK(file != nullptr, "dataset file {}: cannot be opened", path.string());
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  int got = 0;
  while ((got = gzread(file, buffer, sizeof buffer)) > 0)
    bytes.insert(bytes.end(), buffer, buffer + got);
  int error = 0;
  const std::string message = got < 0 ? gzerror(file, &error) : "";
  gzclose(file);
  AXNN_CHECK(got == 0, "dataset file {}: cannot be read: {}", path.string(), message);
  return bytes;
}

uint32_t big_endian(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// An IDX file: its dimensions and data, checked against the expected magic (type and rank).
struct Idx {
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // the whole file
  size_t offset = 0;           // of the data
};

Idx read_idx_file(const std::filesystem::path& path, uint32_t magic) {
  Idx idx;
  idx.bytes = read_all(path);
  AXNN_CHECK(idx.bytes.size() >= 4, "IDX file {}: {} bytes, too short for a header", path.string(),
             idx.bytes.size());
  const uint32_t found = big_endian(idx.bytes.data());
  AXNN_CHECK(found == magic, "IDX file {}: magic 0x{:08x}, expected 0x{:08x} (uint8, rank {})",
             path.string(), found, magic, magic & 0xff);
  const size_t rank = magic & 0xff;
  AXNN_CHECK(idx.bytes.size() >= 4 + 4 * rank, "IDX file {}: header cut short", path.string());
  size_t count = 1;
  for (size_t d = 0; d < rank; ++d) {
    idx.dims.push_back(big_endian(idx.bytes.data() + 4 + 4 * d));
    count *= static_cast<size_t>(idx.dims.back());
  }
  idx.offset = 4 + 4 * rank;
  AXNN_CHECK(idx.bytes.size() - idx.offset == count,
             "IDX file {}: {} data bytes, the header's dimensions need {}", path.string(),
             idx.bytes.size() - idx.offset, count);
  return idx;
}

at::Tensor to_tensor(const std::vector<uint8_t>& bytes, size_t offset, std::vector<int64_t> sizes) {
  at::Tensor t = at::empty(sizes, at::kByte);
  std::memcpy(t.data_ptr<uint8_t>(), bytes.data() + offset, static_cast<size_t>(t.numel()));
  return t;
}

}  // namespace

at::Tensor Dataset::batch_images(int64_t begin, int64_t end) const {
  return images.slice(0, begin, end).to(at::kFloat) / 255;
}

Dataset read_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                 std::string name) {
  const Idx x = read_idx_file(images, 0x803);
  const Idx y = read_idx_file(labels, 0x801);
  AXNN_CHECK(x.dims[0] == y.dims[0], "IDX files {} and {}: {} images but {} labels",
             images.string(), labels.string(), x.dims[0], y.dims[0]);
  Dataset d;
  d.images = to_tensor(x.bytes, x.offset, {x.dims[0], 1, x.dims[1], x.dims[2]});
  d.labels = to_tensor(y.bytes, y.offset, {y.dims[0]}).to(at::kLong);
  d.classes = d.size() == 0 ? 0 : d.labels.max().item<int64_t>() + 1;
  d.name = std::move(name);
  return d;
}

Dataset read_mnist_dir(const std::filesystem::path& dir, Split split, std::string name) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    for (const char* suffix : {".gz", ""}) {
      const auto path = dir / (prefix + stem + suffix);
      if (std::filesystem::exists(path)) return path;
    }
    throw Error(fmt::format(
        "dataset folder {}: no {}{}[.gz]{}", dir.string(), prefix, stem,
        dir == kFashionMnistDir ? " (install Debian's dataset-fashion-mnist package)" : ""));
  };
  const auto images = find("-images-idx3-ubyte");
  return read_idx(images, find("-labels-idx1-ubyte"), std::move(name));
}

Dataset read_cifar10(const std::filesystem::path& dir, Split split) {
  std::vector<std::string> files;
  if (split == Split::kTrain)
    for (int i = 1; i <= 5; ++i) files.push_back(fmt::format("data_batch_{}.bin", i));
  else
    files.push_back("test_batch.bin");
  constexpr size_t kRecord = 1 + 3 * 32 * 32;
  std::vector<at::Tensor> images, labels;
  for (const std::string& file : files) {
    const auto path = dir / file;
    const std::vector<uint8_t> bytes = read_all(path);
    AXNN_CHECK(!bytes.empty() && bytes.size() % kRecord == 0,
               "CIFAR-10 file {}: {} bytes is not a whole number of {}-byte records", path.string(),
               bytes.size(), kRecord);
    const int64_t n = static_cast<int64_t>(bytes.size() / kRecord);
    const at::Tensor records = to_tensor(bytes, 0, {n, static_cast<int64_t>(kRecord)});
    labels.push_back(records.select(1, 0).to(at::kLong));
    images.push_back(records.slice(1, 1).reshape({n, 3, 32, 32}).clone());
    AXNN_CHECK(labels.back().max().item<int64_t>() < 10, "CIFAR-10 file {}: a label above 9",
               path.string());
  }
  Dataset d;
  d.images = at::cat(images);
  d.labels = at::cat(labels);
  d.classes = 10;
  d.name = "cifar10";
  return d;
}

}  // namespace axnn::data
