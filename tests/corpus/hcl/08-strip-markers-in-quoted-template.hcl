output "o" {
  value = "a ${~ "b" ~} c|x  %{~ if true ~}  y  %{~ endif ~}  z"
}
