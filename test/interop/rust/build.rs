// Generates the tonic client stubs from the repository's proto/ at build time (tonic-prost-build
// runs protoc: Debian's protobuf-compiler, or the one $PROTOC names).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../../proto";
    let protos: Vec<String> = std::fs::read_dir(format!("{proto_root}/modelgate/v1"))?
        .map(|entry| entry.map(|e| e.path().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    let mut protos: Vec<String> = protos.into_iter().filter(|p| p.ends_with(".proto")).collect();
    protos.sort();
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&protos, &[proto_root.to_string()])?;
    println!("cargo:rerun-if-changed={proto_root}/modelgate/v1");
    Ok(())
}
