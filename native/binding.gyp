{
  "targets": [
    {
      "target_name": "glassbox",
      "sources": [
        "src/addon.cc",
        "src/fsops.cc",
        "src/pty.cc",
        "src/tracer.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-O2"
      ],
      "libraries": [
        "-lutil"
      ]
    },
    {
      "target_name": "glassbox-demo",
      "type": "executable",
      "sources": [
        "demo/demo.c"
      ],
      "cflags": [
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-O2"
      ],
      "ldflags": [
        "-static"
      ],
      "ldflags!": [
        "-rdynamic"
      ]
    },
    {
      "target_name": "glassbox-shim",
      "type": "executable",
      "sources": [
        "helper/shim.cc"
      ],
      "cflags!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-O2"
      ],
      "ldflags": [
        "-static"
      ],
      "ldflags!": [
        "-rdynamic"
      ]
    }
  ]
}
