/**
 * The platforms Easel ships a VSIX for, and what each must (and must not) contain. ONNX Runtime comes
 * from onnxruntime-node's own package (it carries every platform's build under bin/napi-v*), sharp and
 * libvips from sharp's per-platform npm packages (@img/sharp-*), which npm installs for another
 * platform with --os/--cpu.
 */
export interface TargetSpec {
  /** VS Code's target name, also process.platform-process.arch. */
  target: string;
  os: 'win32' | 'darwin' | 'linux';
  cpu: 'x64' | 'arm64';
  /** Files that must sit in onnxruntime-node/bin/napi-v*\/<os>/<cpu>/. */
  onnxRuntimeFiles: RegExp[];
  /** The @img packages that hold sharp's binding and libvips for this platform. */
  sharpPackages: string[];
  /** Files (relative to node_modules/) that must be present in those packages. */
  sharpFiles: RegExp[];
  /** What ONNX Runtime offers there beyond cpu, for the README and the check's report. */
  providers: string;
  /** The VSIX may not grow past this (bytes, compressed). */
  budgetBytes: number;
}

const MB = 1024 * 1024;

export const TARGETS: readonly TargetSpec[] = [
  {
    target: 'win32-x64', os: 'win32', cpu: 'x64',
    onnxRuntimeFiles: [/^onnxruntime_binding\.node$/, /^onnxruntime\.dll$/, /^DirectML\.dll$/],
    sharpPackages: ['@img/sharp-win32-x64'],
    sharpFiles: [/^@img\/sharp-win32-x64\/lib\/sharp-win32-x64-[\d.]+\.node$/, /^@img\/sharp-win32-x64\/lib\/libvips-cpp-[\d.]+\.dll$/],
    providers: 'DirectML, WebGPU (experimental)', budgetBytes: 45 * MB,
  },
  {
    target: 'win32-arm64', os: 'win32', cpu: 'arm64',
    onnxRuntimeFiles: [/^onnxruntime_binding\.node$/, /^onnxruntime\.dll$/, /^DirectML\.dll$/],
    sharpPackages: ['@img/sharp-win32-arm64'],
    sharpFiles: [/^@img\/sharp-win32-arm64\/lib\/sharp-win32-arm64-[\d.]+\.node$/, /^@img\/sharp-win32-arm64\/lib\/libvips-cpp-[\d.]+\.dll$/],
    providers: 'DirectML, WebGPU (experimental)', budgetBytes: 45 * MB,
  },
  {
    target: 'darwin-arm64', os: 'darwin', cpu: 'arm64',
    onnxRuntimeFiles: [/^onnxruntime_binding\.node$/, /^libonnxruntime\.[\d.]+\.dylib$/],
    sharpPackages: ['@img/sharp-darwin-arm64', '@img/sharp-libvips-darwin-arm64'],
    sharpFiles: [/^@img\/sharp-darwin-arm64\/lib\/sharp-darwin-arm64(-[\d.]+)?\.node$/, /^@img\/sharp-libvips-darwin-arm64\/lib\/libvips-cpp\.[\d.]+\.dylib$/],
    providers: 'CoreML, WebGPU (experimental)', budgetBytes: 42 * MB,
  },
  {
    target: 'linux-x64', os: 'linux', cpu: 'x64',
    onnxRuntimeFiles: [/^onnxruntime_binding\.node$/, /^libonnxruntime\.so\.1$/],
    sharpPackages: ['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64'],
    sharpFiles: [/^@img\/sharp-linux-x64\/lib\/sharp-linux-x64(-[\d.]+)?\.node$/, /^@img\/sharp-libvips-linux-x64\/lib\/libvips-cpp\.so\.[\d.]+$/],
    providers: 'WebGPU (experimental)', budgetBytes: 32 * MB,
  },
  {
    target: 'linux-arm64', os: 'linux', cpu: 'arm64',
    onnxRuntimeFiles: [/^onnxruntime_binding\.node$/, /^libonnxruntime\.so\.1$/],
    sharpPackages: ['@img/sharp-linux-arm64', '@img/sharp-libvips-linux-arm64'],
    sharpFiles: [/^@img\/sharp-linux-arm64\/lib\/sharp-linux-arm64(-[\d.]+)?\.node$/, /^@img\/sharp-libvips-linux-arm64\/lib\/libvips-cpp\.so\.[\d.]+$/],
    providers: 'none', budgetBytes: 24 * MB,
  },
];

/** Targets VS Code knows that Easel cannot serve, and why. */
const UNSUPPORTED: Record<string, string> = {
  'darwin-x64': 'onnxruntime-node 1.30 ships no macOS x64 (Intel) binary',
  'linux-armhf': 'onnxruntime-node ships no 32-bit ARM Linux binary',
  'alpine-x64': 'onnxruntime-node ships no musl (Alpine) binary',
  'alpine-arm64': 'onnxruntime-node ships no musl (Alpine) binary',
  'win32-ia32': 'onnxruntime-node ships no 32-bit Windows binary',
  web: 'Easel runs ONNX Runtime natively and writes local files; it has no web (browser-only) build',
};

/** The packages a VSIX may hold under node_modules/ besides the target's @img packages: what the worker loads at run time. */
export const RUNTIME_PACKAGES = ['onnxruntime-node', 'onnxruntime-common', 'sharp', '@img/colour', 'detect-libc', 'semver'];

/** The spec for a target name, or an error that says which targets exist and why this one is not among them. */
export function targetSpec(target: string): TargetSpec {
  const spec = TARGETS.find((candidate) => candidate.target === target);
  if (spec) return spec;
  const supported = TARGETS.map((candidate) => candidate.target).join(', ');
  const why = UNSUPPORTED[target];
  throw new Error(why ? `Easel cannot be packaged for ${target}: ${why}. Supported targets: ${supported}.` : `"${target}" is not a VS Code target Easel knows. Supported targets: ${supported}.`);
}
