#include "search/mpi_pool.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

#ifdef AXNN_HAVE_MPI
#include <mpi.h>
#endif

namespace axnn::search {
namespace {

// The world size mpirun announces (Open MPI, then PMI launchers); 1 when not launched by one.
int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  return 1;
}

}  // namespace

#ifdef AXNN_HAVE_MPI

namespace {

constexpr int kTaskTag = 1, kStopTag = 2, kResultTag = 3;

}  // namespace

bool mpi_available() { return true; }

MpiWorld::MpiWorld() {
  if (launched_ranks() <= 1) return;
  MPI_Init(nullptr, nullptr);
  initialized_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiWorld::~MpiWorld() {
  if (initialized_) MPI_Finalize();
}

std::vector<double> MpiPool::evaluate(const std::vector<Assignment>& batch, bool full) {
  const int n = world_.size();
  // A task is [full, choice_0, ..., choice_{L-1}].
  for (size_t i = 0; i < batch.size(); ++i) {
    const int rank = static_cast<int>(i % static_cast<size_t>(n));
    if (rank == 0) continue;
    std::vector<int> task = {full ? 1 : 0};
    task.insert(task.end(), batch[i].begin(), batch[i].end());
    MPI_Send(task.data(), static_cast<int>(task.size()), MPI_INT, rank, kTaskTag, MPI_COMM_WORLD);
  }
  std::vector<double> out(batch.size());
  for (size_t i = 0; i < batch.size(); i += static_cast<size_t>(n))
    out[i] = local_.evaluate({batch[i]}, full)[0];
  for (size_t i = 0; i < batch.size(); ++i) {
    const int rank = static_cast<int>(i % static_cast<size_t>(n));
    if (rank == 0) continue;
    MPI_Recv(&out[i], 1, MPI_DOUBLE, rank, kResultTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  return out;
}

MpiPool::~MpiPool() {
  for (int rank = 1; rank < world_.size(); ++rank)
    MPI_Send(nullptr, 0, MPI_INT, rank, kStopTag, MPI_COMM_WORLD);
}

void serve_evaluations(const MpiWorld& world, LocalPool& local) {
  for (;;) {
    MPI_Status status;
    MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
    int count = 0;
    MPI_Get_count(&status, MPI_INT, &count);
    std::vector<int> task(static_cast<size_t>(std::max(count, 1)));
    MPI_Recv(task.data(), count, MPI_INT, 0, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (status.MPI_TAG == kStopTag) return;
    const Assignment assignment(task.begin() + 1, task.begin() + count);
    double accuracy = 0;
    try {
      accuracy = local.evaluate({assignment}, task[0] != 0)[0];
    } catch (const std::exception& e) {
      // Rank 0 would wait for this result forever: stop the whole run, saying why.
      std::fprintf(stderr, "axnn: error on rank %d: %s\n", world.rank(), e.what());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Send(&accuracy, 1, MPI_DOUBLE, 0, kResultTag, MPI_COMM_WORLD);
  }
}

#else  // built without MPI: a world of one

bool mpi_available() { return false; }

MpiWorld::MpiWorld() {
  AXNN_CHECK(launched_ranks() <= 1,
             "this axnn was built without MPI, so it cannot run as {} ranks; install Debian's "
             "libopenmpi-dev and rebuild",
             launched_ranks());
}
MpiWorld::~MpiWorld() = default;
std::vector<double> MpiPool::evaluate(const std::vector<Assignment>& batch, bool full) {
  return local_.evaluate(batch, full);
}
MpiPool::~MpiPool() = default;
void serve_evaluations(const MpiWorld&, LocalPool&) {}

#endif

}  // namespace axnn::search
