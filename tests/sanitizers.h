// Whether the tests (and the gpt2q binary built with them) run under
// AddressSanitizer: ASan keeps freed memory in a quarantine and adds shadow
// memory, so RSS figures do not fall when memory is given back.
#pragma once

namespace gpt2q {

#if defined(__SANITIZE_ADDRESS__)  // GCC
inline constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang
inline constexpr bool kUnderAddressSanitizer = true;
#else
inline constexpr bool kUnderAddressSanitizer = false;
#endif
#else
inline constexpr bool kUnderAddressSanitizer = false;
#endif

}  // namespace gpt2q
