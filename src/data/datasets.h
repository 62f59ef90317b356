// Image classification datasets read from local files, never downloaded:
//   Fashion-MNIST from Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist,
//   gzip IDX files; the default), any IDX image/label pair (MNIST and friends, gzip or raw), and
//   the CIFAR-10 binary format (data_batch_1..5.bin, test_batch.bin) at a given folder.
// Malformed or truncated files give one axnn::Error naming the file and the problem.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace axnn::data {

struct Dataset {
  at::Tensor images;  // uint8 [N, C, H, W]
  at::Tensor labels;  // int64 [N]
  int64_t classes = 0;
  std::string name;

  int64_t size() const { return labels.size(0); }
  // Images [begin, end) as float in [0, 1].
  at::Tensor batch_images(int64_t begin, int64_t end) const;
};

enum class Split { kTrain, kTest };

// An IDX image file (magic 0x803, [N, H, W] uint8) and its label file (magic 0x801, [N] uint8);
// gzip-compressed or not.
Dataset read_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                 std::string name);

// The folder Debian's dataset-fashion-mnist installs into.
inline const std::filesystem::path kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// Fashion-MNIST (or MNIST, same file names) from a folder of {train,t10k}-{images-idx3,labels-idx1}
// -ubyte[.gz] files.
Dataset read_mnist_dir(const std::filesystem::path& dir, Split split, std::string name);

// CIFAR-10 binary batches in `dir`: records of one label byte and 3 x 32 x 32 image bytes.
Dataset read_cifar10(const std::filesystem::path& dir, Split split);

}  // namespace axnn::data
