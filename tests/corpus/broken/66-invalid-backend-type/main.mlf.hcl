mlform {
  backend "postgres" {
    conn_str = "postgres://127.0.0.1/state"
  }
}
