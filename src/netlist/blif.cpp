#include "netlist/blif.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/files.h"

namespace axnn::netlist {
namespace {

// One logical line: continuations joined, comment stripped, split into words.
struct Line {
  int number;  // of its first physical line
  std::vector<std::string> words;
};

std::vector<Line> logical_lines(std::string_view text) {
  std::vector<Line> lines;
  std::string pending;
  int pending_start = 0, number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    std::string physical(text.substr(pos, end - pos));
    pos = end + 1;
    ++number;
    if (const size_t hash = physical.find('#'); hash != std::string::npos) physical.resize(hash);
    while (!physical.empty() && std::isspace(static_cast<unsigned char>(physical.back())))
      physical.pop_back();
    if (pending.empty()) pending_start = number;
    const bool continued = !physical.empty() && physical.back() == '\\';
    if (continued) physical.pop_back();
    pending += physical + ' ';
    if (continued && pos <= text.size()) continue;
    std::istringstream words(pending);
    Line line{pending_start, {}};
    for (std::string w; words >> w;) line.words.push_back(w);
    if (!line.words.empty()) lines.push_back(std::move(line));
    pending.clear();
  }
  return lines;
}

struct Cover {                       // a .names
  std::vector<std::string> signals;  // inputs, then the output
  std::vector<std::string> cubes;
  bool onset = true;
  int line;
};

struct Instance {                                             // a .gate or a .subckt
  std::string kind;                                           // the gate or model name
  std::vector<std::pair<std::string, std::string>> bindings;  // formal, actual
  bool is_gate;
  int line;
};

struct Model {
  std::string name;
  int line;
  std::vector<std::string> inputs, outputs;
  int outputs_line = 0;
  std::vector<Cover> covers;
  std::vector<Instance> instances;
};

const std::set<std::string, std::less<>>& ignored_directives() {
  static const std::set<std::string, std::less<>> ignored = {".attr",
                                                             ".param",
                                                             ".cname",
                                                             ".default_input_arrival",
                                                             ".default_output_required",
                                                             ".default_input_drive",
                                                             ".default_output_load",
                                                             ".default_max_input_load",
                                                             ".input_arrival",
                                                             ".output_required",
                                                             ".input_drive",
                                                             ".output_load",
                                                             ".max_input_load",
                                                             ".wire_load_slope",
                                                             ".wire",
                                                             ".area",
                                                             ".delay"};
  return ignored;
}

std::vector<Model> parse_models(std::string_view text, std::string_view source) {
  std::vector<Model> models;
  Model* model = nullptr;
  Cover* cover = nullptr;  // the .names whose cube lines come next
  const auto where = [&](int line) { return fmt::format("{}:{}", source, line); };
  for (const Line& line : logical_lines(text)) {
    const std::vector<std::string>& w = line.words;
    const std::string& head = w[0];
    if (head[0] != '.') {
      AXNN_CHECK(cover, "{}: '{}' is not a directive and follows no .names", where(line.number),
                 head);
      const size_t k = cover->signals.size() - 1;
      std::string cube = k == 0 ? "" : w[0];
      const std::string out = k == 0 ? w[0] : (w.size() > 1 ? w[1] : "");
      AXNN_CHECK(w.size() == (k == 0 ? 1u : 2u) && cube.size() == k &&
                     cube.find_first_not_of("01-") == std::string::npos &&
                     (out == "0" || out == "1"),
                 "{}: '{}' is not a cube of {} inputs ('0', '1', '-') and an output 0 or 1",
                 where(line.number), fmt::join(w, " "), k);
      const bool onset = out == "1";
      AXNN_CHECK(cover->cubes.empty() || cover->onset == onset,
                 "{}: a cover mixes ON-set and OFF-set lines (net {})", where(line.number),
                 cover->signals.back());
      cover->onset = onset;
      cover->cubes.push_back(std::move(cube));
      continue;
    }
    cover = nullptr;
    if (head == ".model") {
      AXNN_CHECK(w.size() == 2, "{}: .model takes one name", where(line.number));
      models.push_back({w[1], line.number, {}, {}, 0, {}, {}});
      model = &models.back();
      continue;
    }
    if (head == ".end") {
      model = nullptr;
      continue;
    }
    if (ignored_directives().count(head)) continue;
    if (!model) {  // a file may omit .model for its only model
      AXNN_CHECK(models.empty(), "{}: {} outside a .model", where(line.number), head);
      models.push_back({"top", line.number, {}, {}, 0, {}, {}});
      model = &models.back();
    }
    if (head == ".inputs") {
      model->inputs.insert(model->inputs.end(), w.begin() + 1, w.end());
    } else if (head == ".outputs") {
      model->outputs.insert(model->outputs.end(), w.begin() + 1, w.end());
      model->outputs_line = line.number;
    } else if (head == ".names") {
      AXNN_CHECK(w.size() >= 2, "{}: .names needs an output net", where(line.number));
      model->covers.push_back({{w.begin() + 1, w.end()}, {}, true, line.number});
      cover = &model->covers.back();
    } else if (head == ".gate" || head == ".subckt") {
      AXNN_CHECK(w.size() >= 2, "{}: {} needs a name", where(line.number), head);
      Instance instance{w[1], {}, head == ".gate", line.number};
      for (size_t i = 2; i < w.size(); ++i) {
        const size_t eq = w[i].find('=');
        AXNN_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < w[i].size(),
                   "{}: '{}' is not a formal=actual binding", where(line.number), w[i]);
        instance.bindings.emplace_back(w[i].substr(0, eq), w[i].substr(eq + 1));
      }
      model->instances.push_back(std::move(instance));
    } else if (head == ".latch" || head == ".mlatch" || head == ".clock") {
      throw Error(
          fmt::format("{}: {}: sequential circuits are not supported (combinational "
                      "netlists only)",
                      where(line.number), head));
    } else {
      throw Error(fmt::format("{}: unknown or unsupported directive {}", where(line.number), head));
    }
  }
  AXNN_CHECK(!models.empty(), "{}: no .model in the file", source);
  return models;
}

bool is_constant_name(std::string_view name) {
  return name == "$false" || name == "$true" || name == "$undef";
}

class Elaborator {
 public:
  Elaborator(const std::vector<Model>& models, std::string_view source, const GateLibrary* library)
      : models_(models), source_(source), library_(library) {}

  Netlist run(const Model& top) {
    out_.name = top.name;
    std::map<std::string, NetId> ports;
    for (const std::string& name : top.inputs) {
      const NetId net = out_.net(name);
      out_.inputs.push_back(net);
      ports[name] = net;
    }
    for (const std::string& name : top.outputs) ports.emplace(name, out_.net(name));
    elaborate(top, "", ports);
    for (const std::string& name : top.outputs) out_.outputs.push_back(out_.net(name));
    finish(top);
    return std::move(out_);
  }

 private:
  std::string where(int line) const { return fmt::format("{}:{}", source_, line); }

  // Adds the model's logic, its nets named prefix + name except its ports (bound in `ports`) and
  // the constants it does not define (shared by the whole netlist).
  void elaborate(const Model& model, const std::string& prefix,
                 const std::map<std::string, NetId>& ports) {
    AXNN_CHECK(!active_.count(model.name), "{}: model {} instantiates itself", where(model.line),
               model.name);
    active_.insert(model.name);
    std::set<std::string, std::less<>> defined;
    for (const Cover& c : model.covers) defined.insert(c.signals.back());
    const auto net = [&](const std::string& name) {
      if (const auto it = ports.find(name); it != ports.end()) return it->second;
      if (is_constant_name(name) && !defined.count(name)) return out_.net(name);
      return out_.net(prefix + name);
    };
    for (const Cover& c : model.covers) {
      std::vector<NetId> inputs;
      for (size_t i = 0; i + 1 < c.signals.size(); ++i) inputs.push_back(net(c.signals[i]));
      add(std::move(inputs), c.cubes, c.onset, net(c.signals.back()), {}, c.line);
    }
    for (const Instance& inst : model.instances) {
      if (inst.is_gate) {
        add_gate(inst, net);
      } else {
        const auto sub = std::find_if(models_.begin(), models_.end(),
                                      [&](const Model& m) { return m.name == inst.kind; });
        AXNN_CHECK(sub != models_.end(), "{}: .subckt of model {}, which the file does not define",
                   where(inst.line), inst.kind);
        std::map<std::string, NetId> bound;
        for (const auto& [formal, actual] : inst.bindings) {
          const bool is_port = std::count(sub->inputs.begin(), sub->inputs.end(), formal) ||
                               std::count(sub->outputs.begin(), sub->outputs.end(), formal);
          AXNN_CHECK(is_port, "{}: model {} has no port {}", where(inst.line), inst.kind, formal);
          bound[formal] = net(actual);
        }
        elaborate(*sub, fmt::format("{}subckt{}_{}/", prefix, ++instances_, inst.kind), bound);
      }
    }
    active_.erase(model.name);
  }

  template <typename NetOf>
  void add_gate(const Instance& inst, const NetOf& net) {
    AXNN_CHECK(library_, "{}: .gate {} in a mapped netlist needs a gate library", where(inst.line),
               inst.kind);
    const LibraryGate* gate = library_->find(inst.kind);
    AXNN_CHECK(gate, "{}: gate {} is not in the library {}", where(inst.line), inst.kind,
               library_->source);
    std::map<std::string, std::string> bound(inst.bindings.begin(), inst.bindings.end());
    std::vector<NetId> inputs;
    for (const GatePin& pin : gate->pins) {
      const auto it = bound.find(pin.name);
      AXNN_CHECK(it != bound.end(), "{}: gate {} has its pin {} unconnected", where(inst.line),
                 inst.kind, pin.name);
      inputs.push_back(net(it->second));
    }
    const auto out = bound.find(gate->output);
    AXNN_CHECK(out != bound.end(), "{}: gate {} has its output {} unconnected", where(inst.line),
               inst.kind, gate->output);
    AXNN_CHECK(bound.size() == gate->pins.size() + 1,
               "{}: gate {} is bound to pins it does not "
               "have (its pins: {} inputs and {})",
               where(inst.line), inst.kind, gate->pins.size(), gate->output);
    add(std::move(inputs), gate->cubes, true, net(out->second), gate->name, inst.line);
  }

  void add(std::vector<NetId> inputs, std::vector<std::string> cubes, bool onset, NetId output,
           std::string gate, int line) {
    const auto [it, fresh] = driver_line_.emplace(output, line);
    AXNN_CHECK(fresh, "{}: net {} is driven twice (first on line {})", where(line),
               out_.net_name(output), it->second);
    AXNN_CHECK(std::find(out_.inputs.begin(), out_.inputs.end(), output) == out_.inputs.end(),
               "{}: net {} is a primary input and cannot be driven", where(line),
               out_.net_name(output));
    out_.add_node(std::move(inputs), std::move(cubes), onset, output);
    out_.nodes.back().gate = std::move(gate);
    out_.nodes.back().line = line;
  }

  // Constants and undriven nets become constant nodes; outputs must be driven.
  void finish(const Model& top) {
    std::vector<bool> driven(out_.net_count(), false);
    for (const NetId in : out_.inputs) driven[static_cast<size_t>(in)] = true;
    for (const Node& node : out_.nodes) driven[static_cast<size_t>(node.output)] = true;
    for (const NetId o : out_.outputs)
      AXNN_CHECK(driven[static_cast<size_t>(o)], "{}: output {} of model {} is driven by nothing",
                 where(top.outputs_line), out_.net_name(o), top.name);
    std::vector<std::string> floating;
    const size_t nets = out_.net_count();
    for (size_t n = 0; n < nets; ++n) {
      if (driven[n]) continue;
      const std::string& name = out_.net_name(static_cast<NetId>(n));
      if (!is_constant_name(name)) floating.push_back(name);
      const bool one = name == "$true";
      out_.add_node({}, one ? std::vector<std::string>{""} : std::vector<std::string>{}, true,
                    static_cast<NetId>(n));
    }
    if (!floating.empty())
      spdlog::warn("{}: {} net(s) driven by nothing read as constant 0: {}", source_,
                   floating.size(),
                   fmt::join(floating.begin(),
                             floating.begin() + std::min<size_t>(8, floating.size()), ", "));
  }

  const std::vector<Model>& models_;
  std::string source_;
  const GateLibrary* library_;
  Netlist out_;
  std::set<std::string, std::less<>> active_;
  std::map<NetId, int> driver_line_;
  int instances_ = 0;
};

}  // namespace

Netlist parse_blif(std::string_view text, std::string_view source, const BlifOptions& options) {
  const std::vector<Model> models = parse_models(text, source);
  const Model* top = &models.front();
  if (!options.top.empty()) {
    const auto it = std::find_if(models.begin(), models.end(),
                                 [&](const Model& m) { return m.name == options.top; });
    std::vector<std::string> names;
    for (const Model& m : models) names.push_back(m.name);
    AXNN_CHECK(it != models.end(), "{}: no model {} (models: {})", source, options.top,
               fmt::join(names, ", "));
    top = &*it;
  }
  Netlist netlist = Elaborator(models, source, options.library).run(*top);
  topological_order(netlist, source);  // loops are an error of the file
  return netlist;
}

Netlist read_blif(const std::filesystem::path& path, const BlifOptions& options) {
  return parse_blif(read_text_file(path), path.string(), options);
}

std::string format_blif(const Netlist& netlist) {
  std::string out = fmt::format(".model {}\n.inputs", netlist.name);
  for (const NetId n : netlist.inputs) out += " " + netlist.net_name(n);
  out += "\n.outputs";
  for (const NetId n : netlist.outputs) out += " " + netlist.net_name(n);
  out += '\n';
  for (const Node& node : netlist.nodes) {
    out += ".names";
    for (const NetId n : node.inputs) out += " " + netlist.net_name(n);
    out += " " + netlist.net_name(node.output) + '\n';
    for (const std::string& cube : node.cubes)
      out += cube + (cube.empty() ? "" : " ") + (node.onset ? "1\n" : "0\n");
    // An OFF-set cover without cubes is the constant 1, which BLIF spells as a full ON-set cube.
    if (!node.onset && node.cubes.empty()) {
      const std::string all(node.inputs.size(), '-');
      out += all + (all.empty() ? "" : " ") + "1\n";
    }
  }
  return out + ".end\n";
}

void write_blif(const Netlist& netlist, const std::filesystem::path& path) {
  write_text_file(path, format_blif(netlist));
}

}  // namespace axnn::netlist
