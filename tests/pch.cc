// The translation unit that builds test_pch's precompiled header (see CMakeLists.txt).
