// Dataset readers on small files written here (gzip and raw IDX, CIFAR-10 records), their errors,
// and the real Fashion-MNIST that scripts/install-deps.sh installs.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/datasets.h"

namespace axnn::data {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> idx(uint32_t magic, std::vector<uint32_t> dims, size_t data_bytes,
                         uint8_t first = 0) {
  std::vector<uint8_t> out;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(first + i));
  return out;
}

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("axnn_test_data_" +
           std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path write(const std::string& name, const std::vector<uint8_t>& bytes,
                              bool gzip = false) {
    const auto path = dir / name;
    if (gzip) {
      gzFile f = gzopen(path.c_str(), "wb");
      gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
      gzclose(f);
    } else {
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    }
    return path;
  }
  std::string error_of(const std::function<void()>& call) {
    try {
      call();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
  std::filesystem::path dir;
};

TEST_F(Files, IdxGzipAndRaw) {
  for (bool gzip : {false, true}) {
    const auto images = write("train-images-idx3-ubyte" + std::string(gzip ? ".gz" : ""),
                              idx(0x803, {3, 2, 2}, 12), gzip);
    const auto labels = write("train-labels-idx1-ubyte" + std::string(gzip ? ".gz" : ""),
                              idx(0x801, {3}, 3, 4), gzip);
    const Dataset d = read_mnist_dir(dir, Split::kTrain, "tiny");
    EXPECT_EQ(d.images.sizes(), at::IntArrayRef({3, 1, 2, 2}));
    EXPECT_EQ(d.images[2][0][1][1].item<int>(), 11);
    EXPECT_EQ(d.labels[1].item<int64_t>(), 5);
    EXPECT_EQ(d.classes, 7);
    EXPECT_FLOAT_EQ(d.batch_images(1, 2)[0][0][0][0].item<float>(), 4.0f / 255);
    std::filesystem::remove(images);
    std::filesystem::remove(labels);
  }
}

TEST_F(Files, IdxErrorsNameTheFile) {
  const auto images = write("i.idx", idx(0x803, {3, 2, 2}, 12));
  EXPECT_THAT(error_of([&] { read_idx(images, write("l.idx", idx(0x803, {3}, 3)), "x"); }),
              HasSubstr("magic 0x00000803, expected 0x00000801"));
  EXPECT_THAT(error_of([&] { read_idx(images, write("l.idx", idx(0x801, {3}, 2)), "x"); }),
              HasSubstr("2 data bytes, the header's dimensions need 3"));
  EXPECT_THAT(error_of([&] { read_idx(images, write("l.idx", idx(0x801, {4}, 4)), "x"); }),
              HasSubstr("3 images but 4 labels"));
  EXPECT_THAT(error_of([&] {
                read_idx(write("t.idx", {0, 0}), images, "x");
              }),
              HasSubstr("too short"));
  EXPECT_THAT(error_of([&] { read_idx(dir / "none", images, "x"); }), HasSubstr("not found"));
  EXPECT_THAT(error_of([&] { read_mnist_dir(dir, Split::kTest, "x"); }),
              HasSubstr("no t10k-images-idx3-ubyte[.gz]"));
}

TEST_F(Files, Cifar10Records) {
  std::vector<uint8_t> test;
  for (int r = 0; r < 2; ++r) {
    test.push_back(static_cast<uint8_t>(7 + r));
    for (int i = 0; i < 3072; ++i) test.push_back(static_cast<uint8_t>(i % 251));
  }
  write("test_batch.bin", test);
  const Dataset d = read_cifar10(dir, Split::kTest);
  EXPECT_EQ(d.images.sizes(), at::IntArrayRef({2, 3, 32, 32}));
  EXPECT_EQ(d.labels[1].item<int64_t>(), 8);
  EXPECT_EQ(d.images[0][1][0][0].item<int>(), 1024 % 251);
  test.pop_back();
  write("test_batch.bin", test);
  EXPECT_THAT(error_of([&] { read_cifar10(dir, Split::kTest); }),
              HasSubstr("not a whole number of 3073-byte records"));
  EXPECT_THAT(error_of([&] { read_cifar10(dir, Split::kTrain); }),
              HasSubstr("data_batch_1.bin: not found"));
}

TEST(FashionMnist, TheDebianPackageReads) {
  // scripts/install-deps.sh installs dataset-fashion-mnist.
  const Dataset test = read_mnist_dir(kFashionMnistDir, Split::kTest, "fashion-mnist");
  EXPECT_EQ(test.images.sizes(), at::IntArrayRef({10000, 1, 28, 28}));
  EXPECT_EQ(test.classes, 10);
  EXPECT_EQ(at::bincount(test.labels).min().item<int64_t>(), 1000);  // balanced test set
}

}  // namespace
}  // namespace axnn::data
