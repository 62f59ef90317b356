// TRAM phase 1, structure exploration: every approximate layer of a model gets the learnable
// structure of tram/columns.h on an exact b-bit multiplier (nn::LearnedColumns), one shared by all
// layers (TRAM) or one per layer, and the weights and gamma train together against
//   cross entropy + lambda * sum_l (MAC share_l * relative power_l(gamma_l)),
// the power from tram/power.h. After every step gamma is projected back into [0, 1].
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "models/zoo.h"
#include "netlist/generate.h"
#include "train/train.h"
#include "tram/structure.h"

namespace axnn::tram {

struct ExploreOptions {
  int bits = 8;
  bool is_signed = false;             // TRAM: unsigned, asymmetric quantization
  int columns = 0;                    // P; 0: default_structure_columns(bits)
  std::vector<double> initial_gamma;  // empty: default_initial_gamma(P)
  double lambda = 0.3;
  bool per_layer = false;
  double gamma_lr = 1e-2;  // Adam on gamma; the weights use train.lr
  netlist::Architecture architecture = netlist::Architecture::kWallace;  // of the power model
  train::TrainOptions train;
};

// Trains the model in place and returns the learned structure with the training log (one entry
// per epoch: loss, penalty, train top-1, seconds, relative power, gamma). The model's layers are
// left configured with exact<b><s|u> and carry the learned structures. `on_epoch` sees each
// epoch's structure so far (explore writes it as it goes). Throws axnn::Error naming the option
// at fault.
Structure explore(models::Model& model, const data::Dataset& train_set,
                  const ExploreOptions& options,
                  const std::function<void(const Structure&)>& on_epoch = {});

// exact<b><s|u>: the multiplier a structure is learned on.
std::string exact_multiplier_name(int bits, bool is_signed);

// Puts a structure on the model's layers again (every layer configured with exact<b><s|u> and
// its learned columns, gamma fixed): what the explored checkpoint and structure.json evaluate as.
// Throws axnn::Error for a per-layer structure that misses a layer.
void apply_structure(models::Model& model, const Structure& structure);

// The network's relative multiplier power under the structure (MACs from the layers' last
// forward).
double structure_power(models::Model& model, const Structure& structure,
                       netlist::Architecture architecture = netlist::Architecture::kWallace);

}  // namespace axnn::tram
