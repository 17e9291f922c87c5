// Human names for the spec's vocabulary. The spec's own names (arch, p_last...) stay the keys everywhere;
// these are only what people read.

export const ARCH_LABELS = {
  resnet: "ResNet (pre-activation)",
  wrn: "Wide ResNet",
  resnext: "ResNeXt",
  shake_resnet: "Shake-Shake ResNet",
  shake_resnext: "Shake-Shake ResNeXt",
  pyramidnet: "PyramidNet",
  nasnet: "NASNet-A",
};

export const METHOD_LABELS = {
  none: "None",
  shake_shake: "Shake-Shake",
  shakedrop: "ShakeDrop",
  stochastic_depth: "Stochastic depth",
  scheduled_drop_path: "ScheduledDropPath",
};

export const DATASET_LABELS = {
  cifar10: "CIFAR-10",
  cifar100: "CIFAR-100",
  digits: "Digits (built in)",
  synthetic: "Synthetic (smoke tests)",
};

export const SHORT_DATASET_LABELS = { cifar10: "CIFAR-10", cifar100: "CIFAR-100", digits: "Digits", synthetic: "Synthetic" };

// By dotted spec path first, then by field name.
const FIELD_LABELS = {
  "dataset.name": "Dataset",
  "dataset.train_size": "Train size",
  "dataset.test_size": "Test size",
  "dataset.validation": "Validation images",
  "model.arch": "Architecture",
  "regularization.method": "Regularization",
  "regularization.level": "Level",
  "schedule.kind": "Schedule",
  depth: "Depth",
  alpha: "Alpha",
  width: "Width",
  widen: "Widen factor",
  bottleneck: "Bottleneck blocks",
  dropout: "Dropout",
  cardinality: "Cardinality",
  base_width: "Base width",
  cells: "Cells (N)",
  filters: "Filters (F)",
  aux_weight: "Auxiliary head weight",
  forward: "Forward",
  backward: "Backward",
  p_last: "Final survival probability (p_L)",
  alpha_range: "Alpha range",
  beta_range: "Beta range",
  gate_level: "Gate level",
  p_max: "Final drop probability",
  crop_padding: "Crop padding",
  flip: "Horizontal flip",
  cutout: "Cutout size",
  random_erasing: "Random erasing probability",
  epochs: "Epochs",
  batch_size: "Batch size",
  replica_batch: "Images per replica (batch norm group)",
  lr: "Learning rate",
  momentum: "Momentum",
  nesterov: "Nesterov momentum",
  weight_decay: "Weight decay",
  grad_clip: "Gradient clipping (max norm)",
  warmup_epochs: "Warmup epochs",
  milestones: "Milestones",
  gamma: "Gamma",
  seed: "Seed",
  precision: "Precision",
};

export function fieldLabel(path) {
  const name = path.split(".").pop();
  return FIELD_LABELS[path] || FIELD_LABELS[name] || name.replaceAll("_", " ").replace(/^\w/, (c) => c.toUpperCase());
}

export const archLabel = (arch) => ARCH_LABELS[arch] || arch;
export const methodLabel = (method) => METHOD_LABELS[method] || method;
export const datasetLabel = (name) => SHORT_DATASET_LABELS[name] || name;

/** The model as the papers name it: "PyramidNet-272 α200", "Shake-Shake 26 2x96d", "WRN-28-10". */
export function modelName(model) {
  if (!model) return "";
  switch (model.arch) {
    case "pyramidnet": return `PyramidNet-${model.depth} α${model.alpha}${model.bottleneck ? "" : " basic"}`;
    case "shake_resnet": return `Shake-Shake ${model.depth} 2x${model.width}d`;
    case "shake_resnext": return `Shake-Shake ResNeXt-${model.depth} 2x${model.cardinality}x${model.base_width}d`;
    case "resnext": return `ResNeXt-${model.depth} ${model.cardinality}x${model.base_width}d`;
    case "wrn": return `WRN-${model.depth}-${model.widen}`;
    case "resnet": return `ResNet-${model.depth}${model.bottleneck ? " bottleneck" : ""}`;
    case "nasnet": return `NASNet-A (${model.cells}, ${model.filters})`;
    default: return archLabel(model.arch);
  }
}
