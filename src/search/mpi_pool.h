// Evaluations spread over MPI ranks (`mpirun -np N axnn search ...`, Debian OpenMPI). Every
// rank loads the same model and data; rank 0 runs the searcher and the log. A batch is split
// statically, assignment i going to rank i mod N (rank 0 evaluating its share too), and the
// results come back in batch order, so the run is the single-process run, only faster.
#pragma once

#include <memory>

#include "search/run.h"

namespace axnn::search {

// Whether this axnn was built with MPI (Debian's libopenmpi-dev).
bool mpi_available();

// The MPI world, initialized when the process was started by mpirun with more than one rank;
// finalizes on destruction. Without MPI support built in, always a world of one.
class MpiWorld {
 public:
  MpiWorld();
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
  bool initialized_ = false;
};

// Rank 0's pool: `local` evaluates rank 0's share; the other ranks run serve_evaluations.
class MpiPool : public EvaluationPool {
 public:
  MpiPool(const MpiWorld& world, LocalPool& local) : world_(world), local_(local) {}
  ~MpiPool() override;  // tells the other ranks to stop
  std::vector<double> evaluate(const std::vector<Assignment>& batch, bool full) override;
  double fp32(bool full) override { return local_.fp32(full); }
  int workers() const override { return world_.size(); }

 private:
  const MpiWorld& world_;
  LocalPool& local_;
};

// Ranks 1..N-1: evaluate what rank 0 sends until it says stop.
void serve_evaluations(const MpiWorld& world, LocalPool& local);

}  // namespace axnn::search
