// Compile-time checks of the generated corpus (built with -Wall -Wextra -Werror): the default
// policy leaves handler interfaces concrete and renamed methods exist under their C++ names. (The
// skeletons are compiled as part of this library too.)
#include <type_traits>

#include "acme/billing/v1/billing.gryphon.h"
#include "acme/collisions.gryphon.h"
#include "helloworld/greeter.gryphon.h"
#include "nopackage.gryphon.h"

// Methods nobody overrides answer UNIMPLEMENTED, so an empty subclass is a complete handler.
static_assert(!std::is_abstract_v<helloworld::GreeterHandler>);
static_assert(!std::is_abstract_v<acme::gryphon::ServiceHandler>);
static_assert(!std::is_abstract_v<HandlerHandler>);  // no package: the global namespace
static_assert(std::is_base_of_v<gryphon::Handler, acme::billing::v1::ReservedHandler>);

// Keywords and generated identifiers are renamed with a trailing underscore.
static_assert(std::is_member_function_pointer_v<decltype(&acme::gryphon::ServiceHandler::delete_)>);
static_assert(std::is_member_function_pointer_v<decltype(&acme::gryphon::ServiceHandler::new_)>);
static_assert(
    std::is_member_function_pointer_v<decltype(&acme::gryphon::ServiceHandler::gryphon_bind_)>);
static_assert(
    std::is_member_function_pointer_v<decltype(&acme::gryphon::ServiceHandler::ServiceHandler_)>);
