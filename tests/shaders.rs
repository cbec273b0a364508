//! Every WGSL file in shaders/ parses and validates with naga (the version wgpu uses) and
//! translates to MSL, HLSL and SPIR-V, and compiles under Tint (the WGSL compiler of Dawn and
//! Chrome), on every machine, with or without an adapter: as the module the engine builds from
//! it (a file appended to another is compiled after it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use wgtrain::gpu::Shader;

fn shader_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .wgsl files in {}", dir.display());
    files
}

/// `*_subgroup.wgsl` may use subgroup operations: the engine opens them only on devices with
/// subgroups. Every other file must run without them.
fn uses_subgroups(path: &Path) -> bool {
    path.to_string_lossy().ends_with("_subgroup.wgsl")
}

fn shader_of(path: &Path) -> Shader {
    let name = path.file_name().unwrap().to_str().unwrap();
    *Shader::ALL.iter().find(|s| s.file_name() == name).unwrap_or_else(|| panic!("{name} is not in gpu::Shader::ALL"))
}

fn validate(path: &Path) -> (naga::Module, naga::valid::ModuleInfo) {
    use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
    let source = shader_of(path).source();
    let name = path.display().to_string();
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(source, &name)));
    let mut validator = if uses_subgroups(path) {
        let mut v = Validator::new(ValidationFlags::all(), Capabilities::SUBGROUP);
        v.subgroup_stages(ShaderStages::COMPUTE).subgroup_operations(SubgroupOperationSet::all());
        v
    } else {
        Validator::new(ValidationFlags::all(), Capabilities::default())
    };
    let info = validator.validate(&module).unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(source, &name)));
    (module, info)
}

#[test]
fn every_shader_parses_and_validates() {
    for path in shader_files() {
        validate(&path);
    }
}

#[test]
fn every_shader_is_known_to_the_engine() {
    for path in shader_files() {
        shader_of(&path);
    }
}

/// A module made of two files is the file it extends and then its own, and its first line says
/// so (tools/tint reads it there); no other file claims it.
#[test]
fn a_shader_appended_to_another_says_so_on_its_first_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let read = |s: Shader| std::fs::read_to_string(dir.join(s.file_name())).unwrap();
    for shader in Shader::ALL {
        let own = read(shader);
        let first = own.lines().next().unwrap_or_default();
        match shader.extends() {
            Some(base) => {
                assert!(first.contains(&format!("appended to {}", base.file_name())), "{first}");
                assert_eq!(shader.source(), read(base) + &own, "{}", shader.file_name());
            }
            None => {
                assert!(!first.contains("appended to"), "{first}");
                assert_eq!(shader.source(), own, "{}", shader.file_name());
            }
        }
    }
}

/// Overrides must be resolved before the backends run; use each constant's default.
fn resolved(module: &naga::Module, info: &naga::valid::ModuleInfo) -> (naga::Module, naga::valid::ModuleInfo) {
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(module, info, None, &Default::default()).unwrap();
    (module.into_owned(), info.into_owned())
}

#[test]
fn every_shader_translates_to_msl_hlsl_and_spirv() {
    for path in shader_files() {
        let name = path.display();
        let (module, info) = validate(&path);
        let (module, info) = resolved(&module, &info);

        naga::back::msl::write_string(
            &module,
            &info,
            &naga::back::msl::Options::default(),
            &naga::back::msl::PipelineOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: MSL: {e:?}"));

        let mut hlsl = String::new();
        naga::back::hlsl::Writer::new(
            &mut hlsl,
            &naga::back::hlsl::Options::default(),
            &naga::back::hlsl::PipelineOptions::default(),
        )
        .write(&module, &info, None)
        .unwrap_or_else(|e| panic!("{name}: HLSL: {e:?}"));

        naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None)
            .unwrap_or_else(|e| panic!("{name}: SPIR-V: {e:?}"));
    }
}

/// Every entry point fits its workgroup memory in the portable limit the engine opens devices
/// with (wgpu does not check it when it builds a pipeline; a driver may then fail or misbehave).
#[test]
fn every_entry_point_fits_the_workgroup_memory_limit() {
    let limit = wgpu::Limits::default().max_compute_workgroup_storage_size as u64;
    for path in shader_files() {
        let (module, info) = validate(&path);
        for (i, entry) in module.entry_points.iter().enumerate() {
            let uses = info.get_entry_point(i);
            let bytes: u64 = module
                .global_variables
                .iter()
                .filter(|(handle, var)| var.space == naga::AddressSpace::WorkGroup && !uses[*handle].is_empty())
                .map(|(_, var)| u64::from(module.types[var.ty].inner.size(module.to_ctx())))
                .sum();
            assert!(
                bytes <= limit,
                "{} {}: {bytes} bytes of workgroup memory, over {limit}",
                path.display(),
                entry.name
            );
        }
    }
}

/// Runs tools/tint/tint_check.mjs (Tint on Dawn's null backend, no GPU) on `args`; the first
/// call installs its pinned npm package (`npm ci`) when tools/tint has none yet.
fn tint(args: &[&str]) -> Output {
    static INSTALL: Mutex<()> = Mutex::new(());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/tint");
    let need = "Tint runs under Node.js 18 or later with npm (Debian: apt-get install nodejs npm)";
    {
        let _one_at_a_time = INSTALL.lock().unwrap();
        if !dir.join("node_modules/webgpu/package.json").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .status()
                .unwrap_or_else(|e| panic!("{need}: npm: {e}"));
            assert!(status.success(), "npm ci in {} failed: {status}", dir.display());
        }
    }
    Command::new("node")
        .arg(dir.join("tint_check.mjs"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{need}: node: {e}"))
}

fn shown(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every shader compiles under Tint as written, and every pipeline builds: with each true/false
/// combination of the bool overrides, and with each value the engine gives the numeric ones.
#[test]
fn every_shader_compiles_under_tint() {
    let files: Vec<String> = shader_files().iter().map(|p| p.display().to_string()).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let numeric = [
        ["-D", "group=1,2,4,8,16,32,64,128,256"],
        ["-D", "vecs=1,8"],
        ["-D", "ub_vecs=1,2,3,4"],
        ["-D", "row_groups=1,4"],
        ["-D", "col_groups=1,2"],
        ["-D", "tile_blocks=1,3,8"],
    ]
    .concat();
    for options in [&["--combos"][..], &numeric[..]] {
        let out = tint(&[options, &files].concat());
        let text = shown(&out);
        assert!(out.status.success(), "Tint rejects a shader:\n{text}");
        assert!(text.contains(&format!("tint_check: {} files", files.len())) && text.contains(" 0 errors"), "{text}");
    }
}

/// Tint checks what naga lets through: an f32 literal past the largest f32, which naga rounds,
/// is an error naming the file and line.
#[test]
fn tint_rejects_what_naga_accepts_naming_file_and_line() {
    let source = "@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n\n@compute @workgroup_size(1)\nfn main() {\n    out[0] = -3.4028235e38;\n}\n";
    naga::front::wgsl::parse_str(source).expect("naga accepts it");
    let path: PathBuf = std::env::temp_dir().join(format!("wgtrain-tint-{}.wgsl", std::process::id()));
    std::fs::write(&path, source).unwrap();
    let out = tint(&[path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    let text = shown(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("{}:5:14: error:", path.display())) && text.contains("cannot be represented as 'f32'"),
        "{text}"
    );
}
