import Foundation
import HTTPTypes
import Hummingbird

/// The routes: HTML forms (`/`, `/signup`, `/verify`, `/resend`) and their JSON twins
/// under `/api/`.
struct SignupRoutes: Sendable {
    let flow: SignupFlow

    private struct EmailInput: Codable { var email: String }
    private struct CodeInput: Codable {
        var id: String
        var code: String
    }
    private struct IDInput: Codable { var id: String }

    func add(to router: Router<BasicRequestContext>) {
        let flow = self.flow
        let period = flow.period
        router.get("/") { _, _ in HTMLPage(.ok, Pages.signupForm()) }
        router.get("/healthz") { _, _ in "ok" }
        router.post("/signup") { request, _ in
            let input = try await Self.form(EmailInput.self, from: request)
            let result = await flow.signUp(email: input.email)
            return HTMLPage(Self.status(result), Pages.result(result, period: period))
        }
        router.post("/verify") { request, _ in
            let input = try await Self.form(CodeInput.self, from: request)
            let result = await flow.verify(id: input.id, code: input.code)
            return HTMLPage(Self.status(result), Pages.verification(result))
        }
        router.post("/resend") { request, _ in
            let input = try await Self.form(IDInput.self, from: request)
            let result = await flow.resend(id: input.id)
            return HTMLPage(Self.status(result), Pages.resend(result, period: period))
        }
        router.post("/api/signup") { request, context in
            let input = try await request.decode(as: EmailInput.self, context: context)
            let result = await flow.signUp(email: input.email)
            return EditedResponse(status: Self.status(result), response: APIAnswer(result, period: period))
        }
        router.post("/api/verify") { request, context in
            let input = try await request.decode(as: CodeInput.self, context: context)
            let result = await flow.verify(id: input.id, code: input.code)
            return EditedResponse(status: Self.status(result), response: APIAnswer(result))
        }
        router.post("/api/resend") { request, context in
            let input = try await request.decode(as: IDInput.self, context: context)
            let result = await flow.resend(id: input.id)
            return EditedResponse(status: Self.status(result), response: APIAnswer(result, period: period))
        }
    }

    private static func form<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let body = try await request.body.collect(upTo: 16 * 1024)
        do {
            return try URLEncodedFormDecoder().decode(T.self, from: String(buffer: body))
        } catch {
            throw HTTPError(.badRequest, message: "The form is incomplete.")
        }
    }

    static func status(_ result: SignupResult) -> HTTPResponse.Status {
        switch result {
        case .badAddress: .badRequest
        case .sent: .ok
        case .queued: .accepted
        case .refused: .unprocessableContent
        case .tooMany: .tooManyRequests
        case .unavailable: .serviceUnavailable
        }
    }

    static func status(_ result: VerifyResult) -> HTTPResponse.Status {
        switch result {
        case .verified: .ok
        case .wrongCode: .unprocessableContent
        case .noTriesLeft: .tooManyRequests
        case .alreadyVerified: .conflict
        case .unknown: .notFound
        case .unavailable: .serviceUnavailable
        }
    }

    static func status(_ result: ResendResult) -> HTTPResponse.Status {
        switch result {
        case .resent(let signup): status(signup)
        case .tooSoon, .limitReached: .tooManyRequests
        case .alreadyVerified: .conflict
        case .unknown: .notFound
        case .unavailable: .serviceUnavailable
        }
    }
}

/// An HTML page with its status; no script may run, forms post only to this site.
struct HTMLPage: ResponseGenerator {
    let status: HTTPResponse.Status
    let html: String

    init(_ status: HTTPResponse.Status, _ html: String) {
        self.status = status
        self.html = html
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
        headers[.cacheControl] = "no-store"
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
