use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tessera_bff::serve(tessera_bff::Config::parse()).await
}
